"""Shared options: choice lists from their registries, a light ``--help``, one entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import click
import pytest

from cli import main
from cli.options import RegistryChoice, emit_json, plain
from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "vowpalwabbit", "sqlmodel", "sqlalchemy", "pandas", "sklearn")


def option_choices(path: list[str], name: str) -> list[str]:
    command: click.Command = main
    for part in path:
        command = command.commands[part]  # type: ignore[attr-defined]
    (param,) = [p for p in command.params if p.name == name]
    return list(param.type.choices)  # type: ignore[attr-defined]


def test_choice_lists_are_the_registries():
    from optimizer.allocate.registry import AUTO, EXPLORATIONS, POLICIES
    from optimizer.evaluate.estimators import ESTIMATORS
    from optimizer.observe.readers import FORMATS

    assert option_choices(["run"], "policy") == sorted([AUTO, *POLICIES])
    assert option_choices(["simulate"], "policy") == sorted([AUTO, *POLICIES])
    assert option_choices(["learn"], "exploration") == list(EXPLORATIONS)
    assert option_choices(["ingest"], "fmt") == list(FORMATS)
    assert option_choices(["evaluate"], "estimators") == list(ESTIMATORS)


def test_registry_choice_loads_once_when_needed():
    calls = []

    def load():
        calls.append(1)
        return ["a", "b"]

    @click.command()
    @click.option("--x", type=RegistryChoice(load))
    def cmd(x):
        click.echo(x)

    assert calls == []  # building the command reads no registry
    from click.testing import CliRunner

    assert CliRunner().invoke(cmd, ["--x", "b"]).output == "b\n"
    bad = CliRunner().invoke(cmd, ["--x", "c"])
    assert bad.exit_code == 2 and "'c' is not one of 'a', 'b'" in bad.output
    assert calls == [1]


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["ingest", "--help"]])
def test_help_imports_nothing_heavy(args):
    """``python cli.py --help`` runs the script, whose import finds the package; no heavy
    library is imported, and the top-level help reads no registry at all."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['cli.py', *{args!r}]\n"
        "try:\n    runpy.run_path('cli.py', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('MODULES', sorted(m for m in sys.modules if '.' not in m))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: cli.py" in out
    loaded = set(out.split("MODULES", 1)[1].strip()[1:-1].replace("'", "").split(", "))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    if args == ["--help"]:
        assert "optimizer" not in loaded and "rich" not in loaded


def test_console_script_and_script_run_the_same_group():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "creative-optimizer"]
    assert ep.value == "cli:main" and ep.load() is main
    script = subprocess.run(
        [sys.executable, "cli.py", "validate", "-h"], cwd=ROOT, capture_output=True, text=True
    )
    assert script.returncode == 0 and "Usage: cli.py validate" in script.stdout


@dataclass(frozen=True)
class Point:
    x: int
    y: float


class Record:
    def as_dict(self) -> dict:
        return {"kind": "record"}


@dataclass(frozen=True)
class Summary:
    point: Point

    def to_json(self) -> dict:
        return {"point": self.point, "derived": True}


def test_records_serialise_as_their_dicts(capsys):
    data = {"points": [Point(1, 0.5)], "record": Record(), "n": 3, "summary": Summary(Point(0, 0))}
    assert plain(data) == {
        "points": [{"x": 1, "y": 0.5}],
        "record": {"kind": "record"},
        "n": 3,
        "summary": {"point": {"x": 0, "y": 0}, "derived": True},
    }
    emit_json((Record(), Point(2, 1.0)))
    assert json.loads(capsys.readouterr().out) == [{"kind": "record"}, {"x": 2, "y": 1.0}]
