"""A diverging trial ends FAILED with its reason; the other trials go on and the sweep exits 1 (some
trial failed), saying how to rerun the failed one."""

import pytest

from clusterlib import sweep_cmd, tail, trial_runs, write_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_one_diverging_trial_fails_alone(procs, tmp_path, cache_dir):
    # Only the intermediate.fraction=0.3 cell gets a NaN loss (at its 2nd intermediate step); a failure
    # is not retried here so the test stays short (retries are the worker-kill test's business).
    spec = write_spec(tmp_path, "diverge", debug={"nan_after_steps": 2, "only_for": {"intermediate.fraction": 0.3}},
                      resources={"max_failures": 0})
    code = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "2"), "sweep.log", timeout=240)
    out = tail(tmp_path / "sweep.log", 6000)
    assert code == 1, out
    assert "1 trial(s) FAILED" in out and "--resume --retry-failed" in out

    runs = {r.data.params["intermediate.fraction"]: r for r in trial_runs(tmp_path, "xscale-diverge")}
    assert sorted(runs) == ["0.3", "1.0"]
    bad, good = runs["0.3"], runs["1.0"]
    assert bad.info.status == "FAILED"
    assert "loss became nan at step 2" in bad.data.tags["xscale.failure_reason"]
    assert good.info.status == "FINISHED" and "xtreme/score" in good.data.metrics
    assert "xscale.failure_reason" not in good.data.tags

    # The final table lists the failure with its reason, after the finished trial.
    table = out[out.rindex("intermediate.fraction  "):]
    lines = [ln for ln in table.splitlines() if ln.strip()]
    assert "FINISHED" in lines[2] and lines[2].split()[0] == "1"
    assert "FAILED" in lines[3] and "loss became nan at step 2" in lines[3]
    assert "1/2 trials finished" in out

    # Every stage output in the cache is safetensors weights or JSON (no pickles to load back).
    files = [p for stage in ("pretrain", "intermediate", "target", "probe") for p in (cache_dir / stage).rglob("*")
             if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert {p.suffix for p in files} <= {".safetensors", ".json"}, sorted({p.suffix for p in files})
