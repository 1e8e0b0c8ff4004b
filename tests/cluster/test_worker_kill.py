"""A trial whose worker process dies is retried and picks up its finished stages from the cache."""

import json
import re

import pytest

from clusterlib import sweep_cmd, tail, trial_runs, write_spec
from xscale.sweep.trial import KILL_MARKER

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_killed_worker_is_retried_from_the_cache(procs, tmp_path, cache_dir):
    # The fraction-0.3 trial SIGKILLs its own worker process right after reporting its intermediate
    # stage, on its first attempt only (xscale.sweep.trial.trial_main's test hook).
    spec = write_spec(tmp_path, "workerkill", resources={"max_failures": 1}, debug={
        "kill_worker_after_stage": "intermediate", "only_for": {"intermediate.fraction": 0.3}})
    # --out as a URI (file:// takes the pyarrow path that s3:// and gs:// take): Tune state goes there.
    out = f"file://{tmp_path / 'out'}"
    code = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "2", out=out), "sweep.log", timeout=240)
    assert code == 0, tail(tmp_path / "sweep.log")
    assert len(list((tmp_path / "out" / "debug").glob(f"{KILL_MARKER}-*"))) == 1, "the kill hook fired once"

    # Tune saw the worker die once (error.txt of that trial) and retried it to the end.
    trial_dirs = sorted(p for p in (tmp_path / "out" / "tune").iterdir() if p.is_dir())
    assert len(trial_dirs) == 2
    killed = [d for d in trial_dirs if (d / "error.txt").exists()]
    assert len(killed) == 1, [d.name for d in trial_dirs]
    assert "intermediate_fraction=0.3" in killed[0].name
    errors = (killed[0] / "error.txt").read_text()
    assert "Failure # 1" in errors and "Failure # 2" not in errors

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
    assert {r.data.tags["xscale.sweep_dir"] for r in runs} == {out}
    assert (tmp_path / "sweeps" / "workerkill" / "driver.log").exists()  # local beside a URI --out
