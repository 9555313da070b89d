"""An ad server's logs: ingest them, learn a policy from them, evaluate policies on them."""

from __future__ import annotations

import click

from cli import render
from cli.options import (
    RegistryChoice,
    campaign_name,
    campaign_option,
    campaign_options,
    command,
    config_option,
    db_option,
    emit,
    emit_json,
    estimator_names,
    exploration_names,
    ingest_formats,
    json_option,
    load_campaign,
    plain,
    progress_bars,
    seed_option,
    state_dir_option,
    store_for,
    test_share_option,
)


@command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=RegistryChoice(ingest_formats),
    help="File format; auto: by extension and content.",
)
@campaign_option(help="Campaign for rows that name none (DSJSON).")
@config_option(required=False)
@db_option
@json_option
def ingest(
    files: tuple[str, ...],
    fmt: str,
    name: str | None,
    config_path: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Ingest an ad server's logs: decisions, rewards, DSJSON or aggregated reports.

    Bad rows go to quarantine with file, line and reason; re-ingesting stores nothing twice.
    --config registers the campaign (and its attribution window) first.
    """
    from optimizer.offline import ingest_files

    cfg = load_campaign(config_path) if config_path else None
    store = store_for(config_path, db_url)
    with progress_bars(enabled=not as_json) as bars:
        reports = plain(ingest_files(store, files, fmt, name, cfg, bars))
    if as_json:
        emit_json(reports)
    else:
        for line in render.ingest_lines(reports):
            click.echo(line)


@command()
@campaign_options
@click.option(
    "--exploration",
    default="squarecb",
    show_default=True,
    type=RegistryChoice(exploration_names),
    help="Exploration of the learned VW policy when it serves.",
)
@test_share_option(help="Hold out the latest share of events for evaluate.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="VW processes that split the events and average with AllReduce (1: the same "
    "model as learning the events in order).",
)
@click.option(
    "--span-server", help="HOST[:PORT] of the spanning-tree server of a job over machines."
)
@click.option("--node", help="I/TOTAL: this machine's first node of the job (with --span-server).")
@seed_option
@state_dir_option
@json_option
def learn(
    name: str | None,
    config_path: str | None,
    db_url: str | None,
    exploration: str,
    test_share: float,
    workers: int,
    span_server: str | None,
    node: str | None,
    seed: int | None,
    state_dir: str,
    as_json: bool,
) -> None:
    """Train the VW policy from logged decisions and rewards (counterfactual learning) and
    save it as a new version for run and evaluate."""
    from pathlib import Path

    from optimizer.allocate.vw_logged import ClusterSeat
    from optimizer.offline import learn_from_logs

    seat = ClusterSeat.from_flags(span_server, node, workers)
    store = store_for(config_path, db_url)
    with progress_bars(enabled=not as_json) as bars:
        info = learn_from_logs(
            store,
            campaign_name(name, config_path),
            Path(state_dir),
            exploration,
            seed=seed or 0,
            test_share=test_share,
            progress=bars,
            workers=workers,
            seat=seat,
        )
    emit(
        info,
        as_json,
        lambda info: click.echo(
            f"policy {info['version']}: trained on {info['train_events']} logged "
            f"events, saved to {info['path']}"
        ),
    )


@command()
@campaign_options
@click.option(
    "--target",
    "targets",
    multiple=True,
    required=True,
    help="uniform, static:FILE (CSV action,probability[,segment] or JSON), or "
    "policy:VERSION|PATH. Repeat for a comparison table.",
)
@click.option(
    "--estimator",
    "estimators",
    multiple=True,
    type=RegistryChoice(estimator_names),
    help="Estimators [default: all four].",
)
@click.option(
    "--clip",
    type=click.FloatRange(min=0, min_open=True),
    help="Clip importance weights at this value.",
)
@click.option(
    "--ci",
    type=click.Choice(["bootstrap", "normal"]),
    default="bootstrap",
    show_default=True,
    help="Confidence interval (95%).",
)
@click.option(
    "--bootstrap",
    "replicates",
    type=click.IntRange(min=10),
    default=200,
    show_default=True,
    help="Bootstrap replicates.",
)
@test_share_option(
    help="Evaluate on the latest share of events only (the "
    "share learn held out); the reward model fits on the rest."
)
@seed_option
@json_option
def evaluate(
    name: str | None,
    config_path: str | None,
    db_url: str | None,
    targets: tuple[str, ...],
    estimators: tuple[str, ...],
    clip: float | None,
    ci: str,
    replicates: int,
    test_share: float,
    seed: int | None,
    as_json: bool,
) -> None:
    """Estimate what target policies would have earned on the logged events: IPS, SNIPS,
    DM and DR with intervals and weight diagnostics."""
    from optimizer.offline import evaluate_logged

    result = evaluate_logged(
        store_for(config_path, db_url),
        campaign_name(name, config_path),
        targets,
        estimators or estimator_names(),
        clip,
        ci,
        replicates,
        seed or 0,
        test_share,
    )
    emit(result, as_json, lambda r: render.show(render.evaluation(r)))
