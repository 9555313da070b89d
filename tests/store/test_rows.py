from __future__ import annotations

import subprocess
import sys

import pytest

from optimizer.store import rows
from optimizer.store.models import DecisionRow, ReportRow, RewardRow


@pytest.mark.parametrize(
    ("named", "table"),
    [
        (rows.DECISION_COLUMNS, DecisionRow),
        (rows.REWARD_COLUMNS, RewardRow),
        (rows.REPORT_COLUMNS, ReportRow),
    ],
)
def test_the_packed_columns_are_the_tables_in_order(named, table):
    assert named == tuple(c.name for c in table.__table__.columns)


def test_the_row_builders_load_neither_sqlalchemy_nor_pandas():
    code = (
        "import sys; import optimizer.store.rows; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_store_package_gives_its_names_when_asked():
    import optimizer.store as store

    assert store.Store.__name__ == "Store" and "Store" in dir(store)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        store.Nope  # noqa: B018
