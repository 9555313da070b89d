"""What the store holds: campaigns, creatives, the scorer, and the HTML report."""

from __future__ import annotations

import click

from cli import render
from cli.options import (
    CONTEXT,
    campaign_name,
    campaign_option,
    campaign_options,
    check_segment,
    command,
    config_option,
    db_option,
    emit,
    emit_json,
    json_option,
    seed_option,
    state_dir_option,
    store_for,
)


@click.group(context_settings=CONTEXT)
def campaign() -> None:
    """Campaigns in the store."""


@command("show", under=campaign)
@click.argument("name", required=False)
@config_option(required=False)
@db_option
@json_option
def campaign_show(
    name: str | None, config_path: str | None, db_url: str | None, as_json: bool
) -> None:
    """Show a campaign: segments, creatives, events and runs."""
    from optimizer.overview import campaign_overview

    info = campaign_overview(store_for(config_path, db_url), campaign_name(name, config_path))
    emit(info, as_json, lambda info: render.show(render.campaign(info)))


@click.group(context_settings=CONTEXT)
def creatives() -> None:
    """Creatives in the store."""


@command("list", under=creatives)
@campaign_option()
@config_option(required=False)
@click.option(
    "--status", type=click.Choice(["active", "retired", "rejected"]), help="Only this status."
)
@db_option
@json_option
def creatives_list(
    name: str | None, config_path: str | None, status: str | None, db_url: str | None, as_json: bool
) -> None:
    """List a campaign's creatives with their stored impressions and clicks."""
    from optimizer.overview import creative_list

    rows = creative_list(store_for(config_path, db_url), campaign_name(name, config_path), status)
    emit(rows, as_json, lambda rows: render.show(render.creatives(rows)))


@click.group(context_settings=CONTEXT)
def scorer() -> None:
    """The creative scorer: predicted CTR of a creative in a segment from its text."""


@command("fit", under=scorer)
@campaign_options
@state_dir_option
@seed_option
@json_option
def scorer_fit(
    name: str | None,
    config_path: str | None,
    db_url: str | None,
    state_dir: str,
    seed: int | None,
    as_json: bool,
) -> None:
    """Fit the scorer on stored outcomes (decisions and rewards, performance reports) and
    save it as a new version; reports its held-out pairwise accuracy."""
    from pathlib import Path

    from optimizer.scorer import fit_and_register

    result = fit_and_register(
        store_for(config_path, db_url),
        campaign_name(name, config_path),
        Path(state_dir),
        seed=seed or 0,
    )
    info = result.as_dict()
    if as_json:
        emit_json(info)
    else:
        click.echo(
            f"scorer {result.version}: {result.outcomes} outcomes in {result.groups} groups; "
            f"cross-validated by {result.held_out}: pairwise accuracy "
            f"{result.significant_accuracy:.3f} on {result.significant_pairs} significant pairs, "
            f"{result.pairwise_accuracy:.3f} on all; predicted / observed CTR "
            f"{result.calibration_ratio:.2f}; saved to {result.path}"
        )


@command("predict", under=scorer)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Text file (one headline a line, or 'headline | body') or CSV with headline and body.",
)
@click.option("--segment", help="Score for this segment only [default: every segment].")
@campaign_option()
@config_option(required=False)
@click.option("--version", help="Scorer version [default: the latest].")
@db_option
@json_option
def scorer_predict(
    input_path: str,
    segment: str | None,
    name: str | None,
    config_path: str | None,
    version: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Predict the CTR of creatives from a file, per segment."""
    from dataclasses import asdict
    from pathlib import Path

    from optimizer.config import parse_config
    from optimizer.scorer import latest_scorer, predict_file

    store = store_for(config_path, db_url)
    name = campaign_name(name, config_path)
    cfg = parse_config(store.campaign(name).config, f"stored config of {name}")
    model = latest_scorer(store, name, version)
    if segment:
        check_segment(segment, model.segments)
    segments = [segment] if segment else None
    predictions = predict_file(model, Path(input_path), segments, cfg.calls_to_action[0])
    rows = [asdict(p) for p in predictions]
    emit(rows, as_json, lambda rows: render.show(render.predictions(rows)))


@command()
@campaign_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for index.html (one self-contained page).",
)
def report(name: str | None, config_path: str | None, db_url: str | None, out_dir: str) -> None:
    """Write an HTML report of a campaign played in rounds or ingested (opens offline)."""
    from pathlib import Path

    from optimizer.report import write_report

    path = write_report(
        store_for(config_path, db_url), campaign_name(name, config_path), Path(out_dir)
    )
    click.echo(f"wrote {path}")
