"""The loop on a campaign file: run, simulate, generate, screen, validate."""

from __future__ import annotations

import click

from cli import render
from cli.options import (
    batch_option,
    check_segment,
    command,
    config_option,
    db_option,
    emit,
    impressions_option,
    json_option,
    load_campaign,
    policy_option,
    progress_bars,
    seed_option,
    state_dir_option,
    stored_scorer,
)


@command()
@config_option()
@impressions_option
@policy_option()
@seed_option
@db_option
@batch_option
@state_dir_option
@click.option(
    "--generate/--no-generate",
    default=True,
    show_default=True,
    help="Let the LLM write candidates when the config has prompts.",
)
@click.option(
    "--screen/--no-screen",
    default=True,
    show_default=True,
    help="Run the filter stage; without it the bandit sees creative ids only.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    help="Play the campaign in rounds with the refresh stage between them.",
)
@click.option(
    "--impressions-per-round",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="With --rounds: impressions served each round.",
)
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="With --rounds: retire, rewrite prompts, regenerate and fine-tune.",
)
@click.option(
    "--resume", is_flag=True, help="With --rounds: continue from the last completed round."
)
@json_option
def run(
    config_path: str,
    impressions: int,
    policy: str | None,
    seed: int | None,
    db_url: str | None,
    batch_size: int | None,
    state_dir: str,
    generate: bool,
    screen: bool,
    rounds: int | None,
    impressions_per_round: int,
    refresh: bool,
    resume: bool,
    as_json: bool,
) -> None:
    """Run a simulated campaign: generate and filter the pool, then the bandit against
    uniform and the oracle on one seed; or, with --rounds, the whole loop in rounds."""
    check_stages(generate, screen, rounds)
    cfg = load_campaign(
        config_path, seed=seed, database_url=db_url, policy=policy, batch_size=batch_size
    )
    from pathlib import Path

    from optimizer.store import Store

    common = {"store": Store(cfg.database_url), "state_dir": Path(state_dir), "generate": generate}
    with progress_bars(enabled=not as_json) as bars:
        if rounds is None:
            from optimizer.loop import run_campaign

            summary = run_campaign(cfg, impressions, screen=screen, progress=bars, **common)
        else:
            from optimizer.rounds import run_rounds

            summary = run_rounds(
                cfg,
                rounds,
                impressions_per_round,
                refresh=refresh,
                resume=resume,
                progress=bars,
                **common,
            )
    emit(
        summary,
        as_json,
        lambda s: render.show(render.summary(s) if rounds is None else render.rounds(s)),
    )


def check_stages(generate: bool, screen: bool, rounds: int | None) -> None:
    """Usage errors for flags that skip a stage another flag needs."""
    if generate and not screen:
        raise click.UsageError(
            "generated creatives must be screened: with --no-screen, add --no-generate"
        )
    if rounds is not None and not screen:
        raise click.UsageError("--rounds needs the filter stage; drop --no-screen")


@command()
@config_option()
@click.option("--segment", "segments", multiple=True, help="Only this segment (repeatable).")
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1),
    help="Answers per segment and prompt variant [default: generation.n_per_prompt].",
)
@seed_option
@db_option
@json_option
def generate(
    config_path: str,
    segments: tuple[str, ...],
    n: int | None,
    seed: int | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Generate candidate creatives with the LLM and screen them against the live pool;
    store creatives and verdicts with their lineage."""
    cfg = load_campaign(config_path, seed=seed, database_url=db_url)
    for name in segments:
        check_segment(name, [s.name for s in cfg.segments])
    if not cfg.prompts:
        raise click.ClickException(
            f"{config_path}: prompts: no prompt variants; add at least "
            "one (see configs/example.yaml)"
        )
    from optimizer.screening import generate_batch
    from optimizer.store import Store

    with progress_bars(enabled=not as_json) as bars:
        verdicts = generate_batch(cfg, Store(cfg.database_url), segments, n, progress=bars)
    emit(verdicts, as_json, lambda rows: render.show(render.verdicts(rows, by_segment=True)))


@command()
@config_option()
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Text file (one a line: 'headline' or 'headline | body') or CSV with "
    "headline, body, cta (and segment) columns.",
)
@json_option
def screen(config_path: str, input_path: str, as_json: bool) -> None:
    """Screen creatives written by hand with the campaign's filters. Exits 0 even when
    some are rejected."""
    cfg = load_campaign(config_path)
    from optimizer.screening import screen_file

    verdicts = screen_file(cfg, input_path)
    emit(verdicts, as_json, lambda rows: render.show(render.verdicts(rows, by_segment=False)))


@command()
@click.option(
    "--arms-csv",
    type=click.Path(dir_okay=False),
    required=True,
    help="CSV of arms: segment,creative_id,headline,ctr[,segment_share], or a report of past "
    "tests: ad_group (or test_id),headline,impressions,clicks.",
)
@impressions_option
@policy_option(default="auto")
@batch_option
@seed_option
@click.option(
    "--scorer",
    "scorer_version",
    help="A stored scorer version (scorer fit): every arm starts from a text prior read "
    "from its headline. Needs --db.",
)
@db_option
@json_option
def simulate(
    arms_csv: str,
    impressions: int,
    policy: str,
    batch_size: int | None,
    seed: int | None,
    scorer_version: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Replay past A/B tests from a table of arms and their click-through rates."""
    from optimizer.loop import replay_table
    from simulators.table import load_arms_csv

    table = load_arms_csv(arms_csv)
    scorer = stored_scorer(db_url, scorer_version) if scorer_version else None
    with progress_bars(enabled=not as_json) as bars:
        summary = replay_table(
            table,
            policy,
            impressions,
            batch_size or 1,
            seed or 0,
            progress=bars,
            scorer=scorer,
            scorer_version=scorer_version,
        )
    emit(summary, as_json, lambda s: render.show(render.summary(s)))


@command("validate")
@config_option()
@json_option
def validate(config_path: str, as_json: bool) -> None:
    """Check a campaign file and say what is wrong, without touching the database."""
    from optimizer.overview import config_overview

    emit(
        config_overview(load_campaign(config_path)),
        as_json,
        lambda info: click.echo(
            f"{config_path}: OK ({info['segments']} segments, {info['seed_creatives']} "
            f"seed creatives, {info['prompts']} prompts, policy {info['policy']})"
        ),
    )
