"""learn split over worker processes that average with VW's AllReduce, on loopback."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli import main
from optimizer.allocate.spanning_tree import SpanningTree
from optimizer.allocate.vw import VWPolicy
from optimizer.allocate.vw_logged import Cluster, PolicySpec, id_creatives, train
from optimizer.evaluate.targets import candidate_lists
from optimizer.offline import ingest_files, simulate_logs
from optimizer.store import Store
from tests.conftest import EXAMPLE, ROOT
from tests.offline.conftest import as_joined, true_value
from tests.offline.test_learn_text import distributions


@pytest.mark.parametrize("seed", [11, 12])
def test_two_workers_end_with_one_model_that_beats_uniform(example_cfg, tmp_path, seed):
    rows, truths = simulate_logs(example_cfg, 5_000, seed=seed, epsilon=1.0)
    events = as_joined(rows[:4_000])
    models = [tmp_path / "node-0.vw", tmp_path / "node-1.vw"]
    with SpanningTree("127.0.0.1", 0) as tree:
        cluster = Cluster("127.0.0.1", tree.port, total=2, unique_id=seed)
        spec = PolicySpec("squarecb", {}, seed=3)
        shares = train(
            spec, events, candidate_lists(events), id_creatives(), models, [0, 1], cluster
        )
    assert shares == [2_000, 2_000]
    node0, node1 = (VWPolicy.load(m) for m in models)
    held_out, truth = rows[4_000:], truths[4_000:]
    np.testing.assert_allclose(
        distributions(node0, held_out[:300]), distributions(node1, held_out[:300]), atol=1e-9
    )
    uniform = float(np.mean([t.mean() for t in truth]))
    assert true_value(node0, held_out, truth) > 1.25 * uniform


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, example_cfg):
    tmp = tmp_path_factory.mktemp("allreduce")
    data = yaml.safe_load(EXAMPLE.read_text())
    data["database_url"] = f"sqlite:///{tmp}/o.db"
    config = tmp / "campaign.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    rows, _ = simulate_logs(example_cfg, 3_000, seed=4, epsilon=1.0)
    log = tmp / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_files(Store(data["database_url"]), [str(log)], config=example_cfg)
    return tmp, config


def test_learn_with_two_workers_from_the_command_line(campaign):
    tmp, config = campaign
    args = ["learn", "-c", str(config), "--state-dir", str(tmp / "state"), "--json"]
    one = CliRunner().invoke(main, args)
    two = CliRunner().invoke(main, [*args, "--workers", "2"])
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    one, two = json.loads(one.output), json.loads(two.output)
    assert (one["nodes"], two["nodes"]) == (1, 2)
    assert one["train_events"] == two["train_events"] == 3_000
    assert one["version"] != two["version"]
    stored = Store(f"sqlite:///{tmp}/o.db").policy(two["version"])
    assert VWPolicy.load(stored.path).updates == 1_500  # a model file like any other


def test_two_machines_meet_at_one_spanning_tree_server(campaign, example_cfg):
    """The README's recipe on loopback: a spanning-tree server process, and ``learn`` as
    node k/2 in two processes (two machines) reading one store."""
    tmp, _ = campaign
    db = f"sqlite:///{tmp}/o.db"
    server = subprocess.Popen(
        [sys.executable, "-m", "optimizer.allocate.spanning_tree", "--host", "127.0.0.1",
         "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = server.stdout.readline().strip().rsplit(":", 1)[1]
        machines = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from cli import main; main()",
                    "learn",
                    "--db",
                    db,
                    "--campaign",
                    example_cfg.name,
                    "--state-dir",
                    str(tmp / f"machine-{k}"),
                    "--span-server",
                    f"127.0.0.1:{port}",
                    "--node",
                    f"{k}/2",
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )  # fmt: skip
            for k in (0, 1)
        ]
        outputs = [m.communicate(timeout=180) for m in machines]
    finally:
        server.terminate()
        server.wait()
    assert [m.returncode for m in machines] == [0, 0], outputs
    first, second = (json.loads(out) for out, _ in outputs)
    assert first["version"] == second["version"] and first["nodes"] == 2
    registered = [p for p in Store(db).policies(example_cfg.name) if p.version == first["version"]]
    assert [p.path for p in registered] == [first["path"]]  # by the machine with node 0
    rows, _ = simulate_logs(example_cfg, 200, seed=9)
    models = [VWPolicy.load(info["path"]) for info in (first, second)]
    np.testing.assert_allclose(distributions(models[0], rows), distributions(models[1], rows))


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--span-server", "h"], "Error: --span-server and --node go together: give both"),
        (
            ["--span-server", "h:x", "--node", "0/2"],
            "Error: --span-server 'h:x': give HOST or HOST:PORT (port 1 to 65535)",
        ),
        (
            ["--span-server", "h", "--node", "2/2"],
            "Error: --node '2/2': give I/TOTAL, node I of TOTAL numbered from 0 (e.g. 0/4)",
        ),
        (
            ["--span-server", "h", "--node", "1/2", "--workers", "2"],
            "Error: nodes 1 to 2 do not exist in a job of 2 nodes (numbered from 0); give "
            "--node I/TOTAL with I + --workers at most TOTAL",
        ),
    ],
)
def test_cluster_flags_that_do_not_fit_are_one_line_errors(campaign, flags, message):
    tmp, config = campaign
    result = CliRunner().invoke(main, ["learn", "-c", str(config), *flags])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(message) and result.output.count("\n") == 1
