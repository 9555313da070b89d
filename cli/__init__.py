"""creative-optimizer: the command line, grouped by what users do.

- :mod:`cli.campaign`: run, simulate, generate, screen, validate (the loop on a campaign file);
- :mod:`cli.logs`: ingest, learn, evaluate (an ad server's logs and off-policy evaluation);
- :mod:`cli.store`: campaign show, creatives list, scorer fit/predict, report (what is stored);
- :mod:`cli.options`: shared options and helpers; :mod:`cli.render`: tables for people.

Each command parses, calls one library function and formats its result. Heavy imports (VW,
torch, sqlmodel) happen inside commands so ``--help`` is instant.
"""

from __future__ import annotations

import click

from cli import campaign, logs, store
from cli import serve as service
from cli.options import CONTEXT


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="creative-optimizer")
def main() -> None:
    """Agentic, bandit-driven ad creative optimizer.

    The loop: generate -> filter -> allocate -> observe reward -> refresh.
    """


for command in (
    campaign.run,
    campaign.generate,
    campaign.screen,
    campaign.simulate,
    logs.ingest,
    logs.learn,
    logs.evaluate,
    store.scorer,
    store.report,
    campaign.validate,
    store.campaign,
    store.creatives,
    service.serve,
    service.keys,
    service.export,
    service.apprentice,
):
    main.add_command(command)

__all__ = ["main"]
