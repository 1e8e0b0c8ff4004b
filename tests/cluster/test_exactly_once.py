"""Exactly once through any crash: the driver (or a worker) is SIGKILLed at each of several points, the
sweep is resumed, and every trial key ends with exactly one FINISHED run and no run is left RUNNING.

The kill points are the driver's fault hooks (`debug.kill_driver_at`, see xscale/sweep/trial.py):
- trial_start: as the first trial starts, before any trial ends;
- result_logged: right after a stage's result was queued for MLflow (asynchronously: maybe unwritten);
- trial_complete: right after the first trial's run was marked FINISHED (Tune has not saved that yet);
- summary: after the last trial, before the sweep's summary and its parent run's end;
and a worker process killed after its intermediate stage (retried by Tune, same run).
A CPU burner runs beside every sweep: the kills that once broke resume were the ones on a loaded machine.
"""

import subprocess
from collections import Counter

import pytest

from clusterlib import PY, all_runs, sweep_cmd, tail, write_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

BURN = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"


@pytest.fixture
def burner(procs):
    """One busy CPU beside the sweep (killed with every other test process at teardown)."""
    return procs.start([PY, "-c", BURN], "burner.log")


def _check_exactly_once(tmp_path, experiment: str, keys: int) -> None:
    runs = all_runs(tmp_path, experiment)
    trials = [r for r in runs if r.data.tags.get("xscale.role") == "trial"]
    finished = Counter(r.data.tags["xscale.trial_key"] for r in trials if r.info.status == "FINISHED")
    assert len(finished) == keys and set(finished.values()) == {1}, finished
    assert not [r for r in runs if r.info.status == "RUNNING"], [(r.info.run_name, r.data.tags) for r in runs
                                                                  if r.info.status == "RUNNING"]


@pytest.mark.parametrize("point", ["trial_start", "result_logged", "trial_complete", "summary"])
def test_driver_killed_then_resumed_runs_every_trial_exactly_once(procs, burner, tmp_path, cache_dir, point):
    spec = write_spec(tmp_path, f"once-{point}", debug={"kill_driver_at": point})
    first = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "1"), "first.log", timeout=240)
    assert first == -9, tail(tmp_path / "first.log")  # the hook SIGKILLed the driver
    code = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "1", "--resume"), "resume.log", timeout=240)
    assert code == 0, tail(tmp_path / "resume.log")
    _check_exactly_once(tmp_path, f"xscale-once-{point}", keys=2)
    # A resume of the finished sweep adds nothing: no parent run, no trial.
    before = len(all_runs(tmp_path, f"xscale-once-{point}"))
    again = subprocess.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "1", "--resume"), env=procs.env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stdout + again.stderr
    assert len(all_runs(tmp_path, f"xscale-once-{point}")) == before


def test_a_killed_worker_is_retried_in_the_same_run(procs, burner, tmp_path, cache_dir):
    spec = write_spec(tmp_path, "once-worker", debug={"kill_worker_after_stage": "intermediate"})
    code = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--cpus", "1"), "sweep.log", timeout=300)
    assert code == 0, tail(tmp_path / "sweep.log")
    _check_exactly_once(tmp_path, "xscale-once-worker", keys=2)
    trials = [r for r in all_runs(tmp_path, "xscale-once-worker") if r.data.tags.get("xscale.role") == "trial"]
    assert len(trials) == 2  # the retried attempts kept their runs


def test_analysis_keeps_one_run_per_key_and_says_it_dropped_one():
    from xscale.analysis.runs import runs_frame

    def child(run_id, status, start):
        return {"run_id": run_id, "status": status, "start_time": start, "params": {"seed": "0"},
                "metrics": {"dev/score": 1.0}, "tags": {"xscale.trial_key": "cell#0", "xscale.trial_id": run_id}}

    frame = runs_frame([child("a", "FINISHED", 1), child("b", "FINISHED", 2), child("c", "KILLED", 3)])
    assert list(frame["run_id"]) == ["b"] and frame.attrs["dropped"] == ["a", "c"]

