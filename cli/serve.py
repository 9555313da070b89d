"""The decision service: serve, API keys, export of the current allocation, and the
apprentice-mode comparison of learner and baseline."""

from __future__ import annotations

import click

from cli.options import (
    campaign_name,
    campaign_options,
    command,
    config_option,
    db_option,
    emit_json,
    json_option,
    load_campaign,
    state_dir_option,
    store_for,
)


def _db(config_path: str, db_url: str | None) -> str:
    return db_url or load_campaign(config_path).database_url


@command()
@config_option()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (above 1 needs PostgreSQL).",
)
@click.option(
    "--mode",
    type=click.Choice(["online", "apprentice"]),
    default="online",
    show_default=True,
    help="online: the policy chooses; apprentice: the caller's "
    "baseline is served and the policy learns beside it.",
)
@click.option(
    "--explore",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Apprentice mode: share of traffic drawn from the "
    "learner, so evaluation can compare the two (0: baseline only).",
)
@click.option(
    "--learn-every",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds between the learner's passes; 0: no learner (run `learn`).",
)
@state_dir_option
def serve(
    config_path: str,
    db_url: str | None,
    host: str,
    port: int,
    workers: int,
    mode: str,
    explore: float,
    learn_every: float,
    state_dir: str,
) -> None:
    """Serve rank/reward/activate over HTTP (Personalizer-compatible) until interrupted."""
    from optimizer.serve import ServeSettings
    from optimizer.serve.server import run_server

    settings = ServeSettings(
        config=config_path,
        db=_db(config_path, db_url),
        mode=mode,
        explore=explore,
        learn_every_s=learn_every,
        state_dir=state_dir,
    )
    click.echo(f"serving {settings.mode} on http://{host}:{port} ({workers} worker(s))", err=True)
    run_server(settings, host=host, port=port, workers=workers)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def keys() -> None:
    """API keys of the decision service (stored hashed, one campaign each)."""


@command("create", under=keys)
@campaign_options
@click.option("--name", "label", default="", help="A label to recognise the key by.")
@json_option
def keys_create(
    name: str | None, config_path: str | None, db_url: str | None, label: str, as_json: bool
) -> None:
    """Create a key; it is printed once and only its digest is stored."""
    from optimizer.serve.keys import create_key

    store = store_for(config_path, db_url)
    if config_path:
        store.save_campaign(load_campaign(config_path))
    key, info = create_key(store, campaign_name(name, config_path), label)
    if as_json:
        emit_json({"key": key, **info.as_dict()})
    else:
        click.echo(key)
        click.echo(
            f"id {info.id} for campaign {info.campaign}; keep the key, it is not stored", err=True
        )


@command("list", under=keys)
@campaign_options
@json_option
def keys_list(name: str | None, config_path: str | None, db_url: str | None, as_json: bool) -> None:
    """Key ids with their campaign, label, creation and revocation times."""
    from optimizer.serve.keys import list_keys

    campaign = campaign_name(name, config_path) if (name or config_path) else None
    found = list_keys(store_for(config_path, db_url), campaign)
    if as_json:
        emit_json(found)
        return
    for k in found:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        click.echo(f"{k.id}  {k.campaign}  {k.name or '-'}  created {k.created_at}  {state}")


@command("revoke", under=keys)
@click.argument("key_id")
@config_option(required=False)
@db_option
def keys_revoke(key_id: str, config_path: str | None, db_url: str | None) -> None:
    """Revoke a key by id; serving workers refuse it within a second."""
    from optimizer.serve.keys import revoke_key

    info = revoke_key(store_for(config_path, db_url), key_id)
    click.echo(f"revoked {info.id} ({info.campaign}) at {info.revoked_at}")


@command()
@config_option()
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
def export(config_path: str, db_url: str | None, fmt: str) -> None:
    """The current allocation per segment (creatives, texts, traffic weights, policy
    version, time) for ad servers that take weighted line items."""
    from optimizer.rng import Streams
    from optimizer.serve.export import current_allocation, render

    cfg = load_campaign(config_path)
    store = store_for(config_path, db_url)
    allocation = current_allocation(store, cfg, Streams(cfg.seed).fresh("policy"))
    click.echo(render(allocation, fmt), nl=fmt == "json")


@command()
@campaign_options
@click.option("--target", required=True, help="The learner: policy:VERSION or policy:PATH.")
@click.option("--clip", type=click.FloatRange(min=1), default=None, help="Clip weights at M.")
@json_option
def apprentice(
    name: str | None,
    config_path: str | None,
    db_url: str | None,
    target: str,
    clip: float | None,
    as_json: bool,
) -> None:
    """Apprentice-mode logs: the learner vs the baseline, doubly robust, with a paired 95%
    interval of the difference."""
    from optimizer.serve.apprentice import compare_with_baseline

    result = compare_with_baseline(
        store_for(config_path, db_url), campaign_name(name, config_path), target, clip
    )
    if as_json:
        emit_json(result)
        return
    d = result["difference"]
    click.echo(
        f"{result['events']} apprentice events; learner {result['learner']['dr']:.4f}, "
        f"baseline {result['baseline']['dr']:.4f}"
    )
    click.echo(
        f"difference {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]: {result['verdict']}"
    )
