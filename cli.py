"""creative-optimizer: the command line. Parses, calls one library function, formats.

Heavy imports (VW, torch, sqlmodel) happen inside commands so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_DB = "sqlite:///runs/optimizer.db"
POLICY_NAMES = ["thompson", "uniform", "vw"]  # optimizer.allocate.registry.POLICIES (tested)


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


def campaign_options(func: Callable) -> Callable:
    """``--campaign NAME`` or ``--config FILE`` to name the campaign, and ``--db``."""
    func = db_option(func)
    func = config_option(required=False)(func)
    return click.option("--campaign", "name", help="Campaign name (or give --config).")(func)


def policy_option(default: str | None = None) -> Callable:
    return click.option(
        "--policy",
        type=click.Choice(POLICY_NAMES),
        default=default,
        envvar="CREATIVE_OPTIMIZER_POLICY",
        show_envvar=True,
        help="Allocation policy" + ("" if default else "; overrides the config's") + ".",
    )


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


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Rich progress bars on stderr. Yields ``make(label, total) -> advance(n)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
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


def console():
    """A rich console on stdout; wide when piped so tables keep one row per line."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def load_campaign(config_path: str, **overrides: Any):
    from optimizer.config import apply_overrides, load_config

    return apply_overrides(load_config(config_path), **overrides)


def store_for(config_path: str | None, db_url: str | None):
    """The store named by --db, else by the config's database_url, else the default."""
    from optimizer.store import Store

    if db_url is None and config_path is not None:
        db_url = load_campaign(config_path).database_url
    return Store(db_url or DEFAULT_DB)


def campaign_name(name: str | None, config_path: str | None) -> str:
    if name:
        return name
    if config_path:
        return load_campaign(config_path).name
    raise click.UsageError("name the campaign: --campaign NAME or --config FILE")


# -- commands -------------------------------------------------------------------------------
@click.group(context_settings=CONTEXT)
@click.version_option(package_name="creative-optimizer")
def main() -> None:
    """Agentic, bandit-driven ad creative optimizer.

    The loop: generate -> filter -> allocate -> observe reward -> refresh.
    """


@main.command(context_settings=CONTEXT)
@config_option()
@click.option(
    "--impressions",
    "-n",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Simulated impressions to serve.",
)
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
@domain_errors
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
    if generate and not screen:
        raise click.UsageError(
            "generated creatives must be screened: with --no-screen, add --no-generate"
        )
    if rounds is not None and not screen:
        raise click.UsageError("--rounds needs the filter stage; drop --no-screen")
    cfg = load_campaign(
        config_path, seed=seed, database_url=db_url, policy=policy, batch_size=batch_size
    )
    from pathlib import Path

    from optimizer.loop import run_campaign
    from optimizer.store import Store

    store = Store(cfg.database_url)
    if rounds is not None:
        from optimizer.rounds import run_rounds

        with progress_bars(enabled=not as_json) as bars:
            summary = run_rounds(
                cfg,
                rounds,
                impressions_per_round,
                refresh,
                store,
                Path(state_dir),
                resume,
                generate,
                bars,
            )
        if as_json:
            emit_json(summary)
        else:
            print_rounds(summary)
        return
    with progress_bars(enabled=not as_json) as bars:
        summary = run_campaign(
            cfg,
            impressions,
            store=store,
            state_dir=Path(state_dir),
            progress=bars,
            generate=generate,
            screen=screen,
        )
    if as_json:
        emit_json(summary)
    else:
        print_summary(summary)


@main.command(context_settings=CONTEXT)
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
@domain_errors
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
    valid = [s.name for s in cfg.segments]
    for name in segments:
        if name not in valid:
            raise click.BadParameter(
                f"unknown segment {name!r}; valid: {', '.join(valid)}", param_hint="--segment"
            )
    if not cfg.prompts:
        raise click.ClickException(
            f"{config_path}: prompts: no prompt variants; add at least "
            "one (see configs/example.yaml)"
        )
    from optimizer.identity import run_key
    from optimizer.rng import Streams
    from optimizer.screening import generate_and_screen, live_pool
    from optimizer.store import Store

    store = Store(cfg.database_url)
    batch = run_key("generate", cfg.config_hash(), cfg.seed, sorted(segments), n)
    with progress_bars(enabled=not as_json) as bars:
        _, verdicts = generate_and_screen(
            cfg,
            Streams(cfg.seed).fresh("generate"),
            store,
            batch,
            segments or None,
            n,
            pool=live_pool(cfg, store),
            progress=bars,
        )
    rows = [v.as_dict() for v in verdicts]
    if as_json:
        emit_json(rows)
    else:
        print_verdicts(rows, by_segment=True)


@main.command(context_settings=CONTEXT)
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
@domain_errors
def screen(config_path: str, input_path: str, as_json: bool) -> None:
    """Screen creatives written by hand with the campaign's filters. Exits 0 even when
    some are rejected."""
    cfg = load_campaign(config_path)
    from optimizer.screening import read_creatives, screen_creatives

    verdicts = screen_creatives(cfg, read_creatives(input_path, cfg))
    rows = [v.as_dict() for v in verdicts]
    if as_json:
        emit_json(rows)
    else:
        print_verdicts(rows, by_segment=False)


@main.command(context_settings=CONTEXT)
@click.option(
    "--arms-csv",
    type=click.Path(dir_okay=False),
    required=True,
    help="CSV with segment,creative_id,headline,ctr[,segment_share].",
)
@click.option(
    "--impressions",
    "-n",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Simulated impressions to serve.",
)
@policy_option(default="vw")
@batch_option
@seed_option
@json_option
@domain_errors
def simulate(
    arms_csv: str,
    impressions: int,
    policy: str,
    batch_size: int | None,
    seed: int | None,
    as_json: bool,
) -> None:
    """Replay past A/B tests from a table of arms and their click-through rates."""
    from optimizer.loop import replay_table
    from simulators.table import load_arms_csv

    table = load_arms_csv(arms_csv)
    with progress_bars(enabled=not as_json) as bars:
        summary = replay_table(
            table,
            policy,
            impressions,
            batch_size or 1,
            seed if seed is not None else 0,
            progress=bars,
        )
    if as_json:
        emit_json(summary)
    else:
        print_summary(summary)


@main.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "jsonl", "csv", "parquet", "dsjson", "report"]),
    help="File format; auto: by extension and content.",
)
@click.option("--campaign", "campaign_name_", help="Campaign for rows that name none (DSJSON).")
@config_option(required=False)
@db_option
@json_option
@domain_errors
def ingest(
    files: tuple[str, ...],
    fmt: str,
    campaign_name_: str | None,
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
        reports = ingest_files(store, files, fmt, campaign_name_, cfg, bars)
    rows = [r.as_dict() for r in reports]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(
            f"{r['file']} ({r['format']}): read {r['read']}, stored {r['stored']} "
            f"({r['decisions']} decisions, {r['rewards']} rewards, {r['reports']} "
            f"report rows), duplicates {r['duplicates']}, quarantined {r['quarantined']}"
        )
        for reason, count in sorted(r["reasons"].items(), key=lambda kv: -kv[1]):
            click.echo(f"  quarantined {count}: {reason}")


@main.command(context_settings=CONTEXT)
@campaign_options
@click.option(
    "--exploration",
    default="squarecb",
    show_default=True,
    type=click.Choice(["squarecb", "epsilon", "softmax", "bag", "cover"]),
    help="Exploration of the learned VW policy when it serves.",
)
@click.option(
    "--test-share",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Hold out the latest share of events for evaluate.",
)
@seed_option
@state_dir_option
@json_option
@domain_errors
def learn(
    name: str | None,
    config_path: str | None,
    db_url: str | None,
    exploration: str,
    test_share: float,
    seed: int | None,
    state_dir: str,
    as_json: bool,
) -> None:
    """Train the VW policy from logged decisions and rewards (counterfactual learning) and
    save it as a new version for run and evaluate."""
    from pathlib import Path

    from optimizer.offline import learn_from_logs

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
        )
    if as_json:
        emit_json(info)
    else:
        click.echo(
            f"policy {info['version']}: trained on {info['train_events']} logged "
            f"events, saved to {info['path']}"
        )


@main.command(context_settings=CONTEXT)
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
    type=click.Choice(["ips", "snips", "dm", "dr"]),
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
@click.option(
    "--test-share",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Evaluate on the latest share of events only (the "
    "share learn held out); the reward model fits on the rest.",
)
@seed_option
@json_option
@domain_errors
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

    store = store_for(config_path, db_url)
    result = evaluate_logged(
        store,
        campaign_name(name, config_path),
        targets,
        estimators or ("ips", "snips", "dm", "dr"),
        clip,
        ci,
        replicates,
        seed or 0,
        test_share,
    )
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    out = console()
    out.print(
        f"{result['events']} closed events (mean logged reward "
        f"{result['logged_mean_reward']:.4f}); {result['pending']} pending, "
        f"{result['late_rewards']} late and {result['orphan_rewards']} orphan rewards"
    )
    names = list(result["targets"][0]["estimates"]) if result["targets"] else []
    table = Table(
        "target",
        *[e.upper() for e in names],
        "ESS",
        "max w",
        "unseen actions",
        title=f"{result['campaign']}: estimated mean reward [95% CI]",
    )
    for row in result["targets"]:
        cells = [
            f"{v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]" for v in row["estimates"].values()
        ]
        d = row["diagnostics"]
        table.add_row(
            row["target"],
            *cells,
            f"{d['effective_sample_size']:.0f}",
            f"{d['max_weight']:.2f}",
            str(len(d["unseen_actions"])),
        )
    out.print(table)


@main.group(context_settings=CONTEXT)
def scorer() -> None:
    """The creative scorer: predicted CTR of a creative in a segment from its text."""


@scorer.command("fit", context_settings=CONTEXT)
@campaign_options
@state_dir_option
@seed_option
@json_option
@domain_errors
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

    from optimizer.refresh.scorer import fit_and_register

    info = fit_and_register(
        store_for(config_path, db_url),
        campaign_name(name, config_path),
        Path(state_dir),
        seed=seed or 0,
    )
    if as_json:
        emit_json(info)
    else:
        click.echo(
            f"scorer {info['version']}: {info['outcomes']} outcomes, held-out pairwise "
            f"accuracy {info['held_out_pairwise_accuracy']:.3f}; saved to {info['path']}"
        )


@scorer.command("predict", context_settings=CONTEXT)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Text file (one headline a line, or 'headline | body') or CSV with headline and body.",
)
@click.option("--segment", help="Score for this segment only [default: every segment].")
@click.option("--campaign", "name", help="Campaign name (or give --config).")
@config_option(required=False)
@click.option("--version", help="Scorer version [default: the latest].")
@db_option
@json_option
@domain_errors
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
    from optimizer.config import parse_config
    from optimizer.filter.inputs import read_creatives
    from optimizer.refresh.scorer import latest_scorer

    store = store_for(config_path, db_url)
    campaign = campaign_name(name, config_path)
    cfg = parse_config(store.campaign(campaign).config, f"stored config of {campaign}")
    model = latest_scorer(store, campaign, version)
    segments = [segment] if segment else model.segments
    if segment and segment not in model.segments:
        raise click.BadParameter(
            f"unknown segment {segment!r}; valid: " + ", ".join(model.segments),
            param_hint="--segment",
        )
    creatives = read_creatives(input_path, cfg)
    texts = [(c.headline, c.body, c.cta) for c in creatives]
    rows = []
    for seg in segments:
        for c, p in zip(creatives, model.predict(seg, texts), strict=True):
            rows.append(
                {
                    "segment": seg,
                    "headline": c.headline,
                    "body": c.body,
                    "predicted_ctr": round(float(p), 6),
                }
            )
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("segment", "headline", "body", "predicted CTR")
    for r in rows:
        table.add_row(r["segment"], r["headline"], r["body"], f"{r['predicted_ctr']:.4f}")
    console().print(table)


@main.command(context_settings=CONTEXT)
@campaign_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for index.html and its PNG plots.",
)
@domain_errors
def report(name: str | None, config_path: str | None, db_url: str | None, out_dir: str) -> None:
    """Write an HTML report with plots of a campaign played in rounds (opens offline)."""
    from pathlib import Path

    from optimizer.report import write_report

    path = write_report(
        store_for(config_path, db_url), campaign_name(name, config_path), Path(out_dir)
    )
    click.echo(f"wrote {path}")


@main.command("validate", context_settings=CONTEXT)
@config_option()
@json_option
@domain_errors
def validate(config_path: str, as_json: bool) -> None:
    """Check a campaign file and say what is wrong, without touching the database."""
    cfg = load_campaign(config_path)
    info = {
        "campaign": cfg.name,
        "segments": len(cfg.segments),
        "seed_creatives": len(cfg.seed_creatives),
        "prompts": len(cfg.prompts),
        "policy": cfg.allocation.policy,
        "config_hash": cfg.config_hash(),
    }
    if as_json:
        emit_json(info)
    else:
        click.echo(
            f"{config_path}: OK ({info['segments']} segments, {info['seed_creatives']} "
            f"seed creatives, {info['prompts']} prompts, policy {info['policy']})"
        )


@main.group(context_settings=CONTEXT)
def campaign() -> None:
    """Campaigns in the store."""


@campaign.command("show", context_settings=CONTEXT)
@click.argument("name", required=False)
@config_option(required=False)
@db_option
@json_option
@domain_errors
def campaign_show(
    name: str | None, config_path: str | None, db_url: str | None, as_json: bool
) -> None:
    """Show a campaign: segments, creatives, events and runs."""
    from optimizer.overview import campaign_overview

    info = campaign_overview(store_for(config_path, db_url), campaign_name(name, config_path))
    if as_json:
        emit_json(info)
        return
    from rich.table import Table

    out = console()
    out.print(f"[bold]{info['name']}[/bold]: {info['product']}")
    c, e = info["creatives"], info["events"]
    out.print(
        f"creatives: {c['active']} active, {c['retired']} retired, {c['rejected']} "
        f"rejected; events: {e['decisions']} decisions, {e['rewards']} rewards"
    )
    seg = Table("segment", "share", "features", title="Segments")
    for s in info["segments"]:
        seg.add_row(s["name"], f"{s['share']:.2f}", ", ".join(s["features"]))
    out.print(seg)
    runs = Table(
        "run", "policy", "seed", "impressions", "status", "CTR", "lift vs uniform", title="Runs"
    )
    for r in info["runs"]:
        runs.add_row(
            r["id"],
            r["policy"],
            str(r["seed"]),
            str(r["impressions"]),
            r["status"],
            f"{r['ctr']:.4f}" if r["ctr"] is not None else "-",
            f"{r['lift_vs_uniform']:.2f}x" if r["lift_vs_uniform"] else "-",
        )
    out.print(runs)


@main.group(context_settings=CONTEXT)
def creatives() -> None:
    """Creatives in the store."""


@creatives.command("list", context_settings=CONTEXT)
@click.option("--campaign", "name", help="Campaign name (or give --config).")
@config_option(required=False)
@click.option(
    "--status", type=click.Choice(["active", "retired", "rejected"]), help="Only this status."
)
@db_option
@json_option
@domain_errors
def creatives_list(
    name: str | None, config_path: str | None, status: str | None, db_url: str | None, as_json: bool
) -> None:
    """List a campaign's creatives with their stored impressions and clicks."""
    from optimizer.overview import creative_list

    rows = creative_list(store_for(config_path, db_url), campaign_name(name, config_path), status)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("id", "headline", "cta", "segment", "source", "status", "impr.", "clicks", "CTR")
    for r in rows:
        table.add_row(
            r["id"],
            r["headline"],
            r["cta"],
            r["segment"] or "all",
            r["source"],
            r["status"],
            str(r["impressions"]),
            str(r["clicks"]),
            f"{r['ctr']:.4f}" if r["ctr"] is not None else "-",
        )
    console().print(table)


# -- formatting -----------------------------------------------------------------------------
def print_verdicts(rows: list[dict], by_segment: bool) -> None:
    from rich.table import Table

    out = console()
    columns = (["segment", "prompt"] if by_segment else []) + [
        "verdict",
        "headline",
        "body",
        "cta",
        "reasons",
        "relevance",
        "policy",
    ]
    table = Table(*columns)
    for r in rows:
        reasons = "; ".join(f"{x['filter']}: {x['reason']}" for x in r["reasons"])
        sc = r["scores"]
        table.add_row(
            *([r["segment"] or "-", r["prompt_id"] or "-"] if by_segment else []),
            "[green]kept[/green]" if r["kept"] else "[red]rejected[/red]",
            r["headline"] or repr((r.get("raw") or "")[:40]),
            r["body"] or "",
            r["cta"] or "",
            reasons,
            f"{sc['relevance']:.2f}" if "relevance" in sc else "-",
            f"{sc['policy']:.2f}" if "policy" in sc else "-",
        )
    out.print(table)
    kept = sum(r["kept"] for r in rows)
    out.print(f"{kept} kept, {len(rows) - kept} rejected")


def print_rounds(summary: dict) -> None:
    from rich.table import Table

    out = console()
    table = Table(
        "round",
        "served CTR",
        "true CTR",
        "oracle",
        "uniform",
        "regret",
        "pool true CTR",
        title=f"{summary['campaign']}: rounds "
        f"({'with' if summary['refresh'] else 'without'} refresh)",
    )
    for r in summary["rounds"]:
        cells = [
            f"{r[k]:.4f}" if k in r else "-"
            for k in ("served_ctr", "expected_ctr", "oracle_ctr", "uniform_ctr")
        ]
        table.add_row(
            str(r["round"]),
            *cells,
            f"{r['regret']:.1f}" if "regret" in r else "-",
            f"{r['pool_true_ctr']:.4f}",
        )
    out.print(table)
    out.print(
        f"active pool true CTR {summary['initial_pool_true_ctr']:.4f} -> "
        f"{summary['final_pool_true_ctr']:.4f} ({summary['pool_lift']:.2f}x); "
        f"{summary['retirements']} retirements, {summary['new_creatives']} new "
        f"creatives; generator {summary['generator']}"
    )


def print_summary(summary: dict) -> None:
    from rich.table import Table

    out = console()
    pool = summary.get("pool")
    if pool and pool["screened"]:
        out.print(
            f"pool: {pool['creatives']} creatives ({pool['generated_kept']} generated), "
            f"{pool['rejected']} of {pool['screened']} screened rejected"
        )
    totals = Table(
        "policy",
        "impressions",
        "clicks",
        "CTR",
        "true CTR",
        "regret",
        title=f"{summary['campaign']} (seed {summary['seed']})",
    )
    for key in ("policy", "uniform", "oracle"):
        t = summary[key]
        totals.add_row(
            t["name"],
            str(t["impressions"]),
            str(t["clicks"]),
            f"{t['ctr']:.4f}",
            f"{t['expected_ctr']:.4f}",
            f"{t['regret']:.1f}",
        )
    out.print(totals)
    if summary.get("lift_vs_uniform"):
        out.print(
            f"{summary['policy']['name']} got {summary['lift_vs_uniform']:.2f}x the "
            "clicks of uniform on the same users."
        )
    for name, seg in summary["segments"].items():
        table = Table(
            "creative",
            "headline",
            "share",
            "impr.",
            "clicks",
            "observed CTR",
            "true CTR",
            title=f"segment {name}: {seg['impressions']} impressions",
        )
        for r in seg["creatives"]:
            star = " *" if r["id"] == seg["best_creative"] else ""
            table.add_row(
                r["id"] + star,
                r["headline"],
                f"{r['share']:.1%}",
                str(r["impressions"]),
                str(r["clicks"]),
                f"{r['observed_ctr']:.4f}" if r["observed_ctr"] is not None else "-",
                f"{r['true_ctr']:.4f}" if r["true_ctr"] is not None else "-",
            )
        out.print(table)
    out.print("* the segment's best creative by true CTR")


if __name__ == "__main__":
    sys.exit(main())
