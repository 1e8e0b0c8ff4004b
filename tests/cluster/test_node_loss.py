"""A worker node of a two-node cluster is removed mid-sweep; its trial is retried on the head and finishes."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterlib import sweep_cmd, tail, trial_runs, wait_for, write_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
HELPER = Path(__file__).with_name("two_node_cluster.py")


def test_removed_node_trials_finish_elsewhere(procs, tmp_path, cache_dir, bench_root):
    # The stage cache is named by a URI, as a cluster's shared cache would be (s3://, gs://); file://
    # takes the same pyarrow path. Nodes then keep the synthetic benchmark in $TMPDIR/xscale-cache.
    node_tmp = tmp_path / "nodetmp"
    shutil.copytree(bench_root, node_tmp / "xscale-cache" / "benchmarks")
    env = {"TMPDIR": str(node_tmp)}
    cache_uri = f"file://{cache_dir}"
    state = tmp_path / "cluster"
    state.mkdir()
    cluster = procs.start([sys.executable, str(HELPER), str(state)], "cluster.log", extra_env=env, stdin=subprocess.PIPE)
    info = wait_for(lambda: (state / "info.json").exists() and json.loads((state / "info.json").read_text()), 90,
                    f"the two-node cluster ({tail(tmp_path / 'cluster.log', 1000)})")

    # Two seeds, two pretraining runs: both trials start at once, one on each node. (Two cells of one
    # seed would start one after the other, the second once the first is past its pretraining.)
    spec = write_spec(tmp_path, "nodeloss", resources={"max_failures": 1}, seed={"grid": [0, 1]},
                      intermediate={"fraction": 1.0})
    driver = procs.start(sweep_cmd(spec, tmp_path, cache_uri, "--address", info["address"]), "sweep.log", extra_env=env)
    cluster.stdin.write(b"remove-when-busy\n")
    cluster.stdin.flush()
    removed = wait_for(lambda: (state / "removed.json").exists() and json.loads((state / "removed.json").read_text()),
                       150, "the worker node's removal")
    assert removed["busy_actor_pids"], "no trial ran on the worker node before it was removed"
    code = procs.wait(driver, 240)
    assert code == 0, tail(tmp_path / "sweep.log")

    runs = trial_runs(tmp_path, "xscale-nodeloss")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}

    # The trial that ran on the removed node failed once, with that node's actor, and was retried.
    failed = [d for d in (tmp_path / "out" / "tune").iterdir() if (d / "error.txt").exists()]
    assert len(failed) == 1, [d.name for d in failed]
    text = (failed[0] / "error.txt").read_text()
    assert "Failure # 1" in text and "Failure # 2" not in text and "actor" in text.lower(), text
    results = [json.loads(ln) for ln in (failed[0] / "result.json").read_text().splitlines() if ln.strip()]
    assert results[-1]["stage"] == "done" and results[-1]["pid"] not in removed["busy_actor_pids"]

    # Stages that finished before the node went are not computed again; the one it was in the middle
    # of is computed once, on the head.
    ran = re.findall(r"^(pretrain \w+|intermediate \w+|target \w+): ran \((\w+)\)$", procs.worker_output(), re.M)
    assert len(ran) == len(set(ran)), ran
    assert sum(stage == "target tatoeba" for stage, _ in ran) == 2
    assert len(list((cache_dir / "target").glob("*/entry.json"))) == 6  # written through the URI
