"""What every command shares: option decorators defined once, registry-backed choice lists,
domain errors as one-line messages, JSON output, progress bars, and finding the campaign and
its store.

Nothing here imports a stage, the store or a registry at module level, so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_DB = "sqlite:///runs/optimizer.db"

ProgressFactory = Callable[[str, int], Callable[[int], None]]


# -- choice lists from their registries -----------------------------------------------------
class RegistryChoice(click.Choice):
    """A ``click.Choice`` whose names are read from a registry when first needed (parsing a
    value or printing a command's help), not when the CLI is imported."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self.load = load
        self.case_sensitive = True

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.load())


def policy_names() -> list[str]:
    from optimizer.allocate.registry import AUTO, POLICIES

    return sorted([AUTO, *POLICIES])


def exploration_names() -> list[str]:
    from optimizer.allocate.registry import EXPLORATIONS

    return list(EXPLORATIONS)


def ingest_formats() -> tuple[str, ...]:
    from optimizer.observe.readers import FORMATS

    return FORMATS


def estimator_names() -> tuple[str, ...]:
    from optimizer.evaluate.estimators import ESTIMATORS

    return ESTIMATORS


# -- shared options -------------------------------------------------------------------------
def config_option(required: bool = True) -> Callable:
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False),
        required=required,
        help="Campaign YAML file (see configs/example.yaml).",
    )


def campaign_option(help: str = "Campaign name (or give --config).") -> Callable:
    return click.option("--campaign", "name", help=help)


db_option = click.option(
    "--db",
    "db_url",
    envvar="CREATIVE_OPTIMIZER_DB",
    show_envvar=True,
    help="SQLAlchemy database URL; overrides the config's database_url.",
)
seed_option = click.option(
    "--seed",
    type=click.IntRange(min=0),
    envvar="CREATIVE_OPTIMIZER_SEED",
    show_envvar=True,
    help="Seed for every random stream; overrides the config's seed.",
)
state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default="runs",
    show_default=True,
    help="Folder for saved models and round checkpoints.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
batch_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Impressions served between policy updates.",
)
impressions_option = click.option(
    "--impressions",
    "-n",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Simulated impressions to serve.",
)
test_share_option = functools.partial(
    click.option,
    "--test-share",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
)


def campaign_options(func: Callable) -> Callable:
    """``--campaign NAME`` or ``--config FILE`` to name the campaign, and ``--db``."""
    func = db_option(func)
    func = config_option(required=False)(func)
    return campaign_option()(func)


def policy_option(default: str | None = None) -> Callable:
    return click.option(
        "--policy",
        type=RegistryChoice(policy_names),
        default=default,
        envvar="CREATIVE_OPTIMIZER_POLICY",
        show_envvar=True,
        help="Allocation policy" + ("" if default else "; overrides the config's") + ".",
    )


# -- commands -------------------------------------------------------------------------------
def domain_errors(func: Callable) -> Callable:
    """Turn domain errors into ``Error: ...`` lines with a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from optimizer.errors import OptimizerError

        try:
            return func(*args, **kwargs)
        except OptimizerError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def command(name: str | None = None, under: click.Group | None = None) -> Callable:
    """A command (of group ``under``, if given) with ``-h/--help`` whose domain errors become
    one-line messages."""
    make = under.command if under is not None else click.command

    def decorate(func: Callable) -> click.Command:
        return make(name, context_settings=CONTEXT)(domain_errors(func))

    return decorate


# -- output ---------------------------------------------------------------------------------
def plain(data: Any) -> Any:
    """A record (with ``to_json()`` or ``as_dict()``, or a dataclass), or lists and dicts of
    them, as plain data: what ``--json`` prints and the tables read."""
    for method in ("to_json", "as_dict"):
        if callable(getattr(data, method, None)):
            return plain(getattr(data, method)())
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.asdict(data)
    if isinstance(data, list | tuple):
        return [plain(x) for x in data]
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    return data


def emit_json(data: Any) -> None:
    click.echo(json.dumps(plain(data), indent=2, default=str))


def emit(data: Any, as_json: bool, show: Callable[[Any], object]) -> None:
    """A command's result as plain data (:func:`plain`): printed as JSON with ``--json``,
    else handed to ``show``, which prints it for people."""
    data = plain(data)
    if as_json:
        emit_json(data)
    else:
        show(data)


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[ProgressFactory]:
    """Rich progress bars on stderr. Yields ``make(label, total) -> advance(n)``; labels are
    shown as written (never read as markup)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )

    def make(label: str, total: int) -> Callable[[int], None]:
        task = progress.add_task(label, total=total)
        return lambda n: progress.advance(task, n)

    with progress:
        yield make


# -- the campaign and its store -------------------------------------------------------------
def load_campaign(config_path: str, **overrides: Any):
    from optimizer.config import apply_overrides, load_config

    return apply_overrides(load_config(config_path), **overrides)


def store_for(config_path: str | None, db_url: str | None):
    """The store named by --db, else by the config's database_url, else the default."""
    from optimizer.store import Store

    if db_url is None and config_path is not None:
        db_url = load_campaign(config_path).database_url
    return Store(db_url or DEFAULT_DB)


def stored_scorer(db_url: str | None, version: str):
    """The scorer ``version`` registered in the store named by ``--db`` (or the default)."""
    from optimizer.scorer import scorer_version

    return scorer_version(store_for(None, db_url), version)


def campaign_name(name: str | None, config_path: str | None) -> str:
    if name:
        return name
    if config_path:
        return load_campaign(config_path).name
    raise click.UsageError("name the campaign: --campaign NAME or --config FILE")


def check_segment(name: str, valid: Sequence[str]) -> None:
    """A usage error (exit 2) for a ``--segment`` that is not one of ``valid``."""
    if name not in valid:
        raise click.BadParameter(
            f"unknown segment {name!r}; valid: {', '.join(valid)}", param_hint="--segment"
        )
