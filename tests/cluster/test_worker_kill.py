"""A trial whose worker process dies is retried and picks up its finished stages from the cache."""

import json
import re

import pytest

from clusterlib import sweep_cmd, tail, trial_runs, write_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_killed_worker_is_retried_from_the_cache(procs, tmp_path, cache_dir):
    marker = tmp_path / "killed.pid"
    spec = write_spec(tmp_path, "workerkill", debug={"kill_worker_after_stage": "intermediate", "kill_marker": str(marker)},
                      resources={"max_failures": 1})
    code = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "2"), "sweep.log", timeout=240)
    assert code == 0, tail(tmp_path / "sweep.log")
    assert marker.exists(), "the kill hook never fired"

    # Tune saw the worker die once (error.txt of that trial) and retried it to the end.
    trial_dirs = sorted(p for p in (tmp_path / "out" / "tune").iterdir() if p.is_dir())
    assert len(trial_dirs) == 2
    killed = [d for d in trial_dirs if (d / "error.txt").exists()]
    assert len(killed) == 1, [d.name for d in trial_dirs]
    assert "Failure # 1" in (killed[0] / "error.txt").read_text()

    # The retry found pretraining and intermediate training in the cache: its reports count only the
    # target stages as computed (the first attempt counted pretrain/intermediate before it died).
    results = [json.loads(ln) for ln in (killed[0] / "result.json").read_text().splitlines() if ln.strip()]
    final = results[-1]
    assert final["stage"] == "done"
    assert "cache/computed/pretrain" not in final and "cache/computed/intermediate" not in final, final
    assert final["cache/computed/target"] == 3
    assert [r["stage"] for r in results].count("intermediate") >= 1
    assert final["stage_index"] == 6  # pretrain, intermediate, 3 targets, done: counted again from 1 by the retry

    # Across every worker process of the sweep, each stage ran once; the killed trial's intermediate
    # stage shows up as a cache hit in another process.
    logs = procs.worker_output()
    ran = re.findall(r"^(pretrain \w+|intermediate \w+|target \w+): ran \((\w+)\)$", logs, re.M)
    assert len(ran) == len(set(ran)), ran
    assert sum(stage.startswith("pretrain") for stage, _ in ran) == 1
    hits = set(re.findall(r"^intermediate \w+: cache hit \((\w+)\)$", logs, re.M))
    assert {k for s, k in ran if s.startswith("intermediate")} & hits, logs[-3000:]

    runs = trial_runs(tmp_path, "xscale-workerkill")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert all(r.data.metrics["cache/computed/target"] == 3 for r in runs)
