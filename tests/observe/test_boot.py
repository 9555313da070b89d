"""An ingest worker's interpreter starts without the packages it does not need."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from optimizer.observe.boot import Refused
sys.meta_path.insert(0, Refused(["pandas"]))
import pyarrow as pa
from optimizer.observe.prepare import prepare_file
assert pa.array([{"a": 1.5}, {"a": 2}]).to_pylist() == [{"a": 1.5}, {"a": 2.0}]
try:
    import pandas.core
except ModuleNotFoundError as exc:
    print(exc.name, "pandas" in sys.modules)
"""


def test_a_refused_package_is_not_installed_for_the_worker_and_arrow_works_without_it():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["pandas", "False"]
