"""The MLflow side of resume: a trial key keeps one run, and nothing is logged into it twice."""

from xscale.tracking import Tracker, check_uri


def _tracker(tmp_path):
    return Tracker(f"sqlite:///{tmp_path}/mlflow.db", "xscale-test", "t", str(tmp_path / "sweep"), "sweep-1")


def _history(tracker, run_id, key):
    return [(m.step, m.value) for m in tracker.client.get_metric_history(run_id, key)]


def test_reopened_run_skips_results_it_already_holds(tmp_path):
    first = _tracker(tmp_path)
    first.start_sweep({}, {})
    run_id, finished = first.trial_run("cell#0", "t_00000", "cell", {"model.size": "xs"}, name="trial")
    assert not finished
    first.log(run_id, {"dev/score": 40.0, "stage": "pretrain"}, step=1)
    first.log(run_id, {"dev/score": 50.0, "xtreme/score": 20.0}, step=2)
    first.log_curves(run_id, {"target/xnli": [[10, 1.1, 1e-3], [20, 0.9, 5e-4]]})
    first.flush()  # ...and the driver dies here, before the trial completes

    second = _tracker(tmp_path)
    second.start_sweep({}, {})
    # The rerun has a new Tune trial id; the key finds its run.
    again, finished = second.trial_run("cell#0", "t_00007", "cell", {"model.size": "xs"}, name="trial")
    assert (again, finished) == (run_id, False)
    # The rerun reports every stage again (from the cache): only the new step is logged.
    second.log(run_id, {"dev/score": 40.0}, step=1)
    second.log(run_id, {"dev/score": 50.0, "xtreme/score": 20.0}, step=2)
    second.log(run_id, {"dev/score": 55.0, "xtreme/score": 21.0}, step=3)
    second.log_curves(run_id, {"target/xnli": [[10, 1.1, 1e-3], [20, 0.9, 5e-4]]})
    second.finish(run_id, "FINISHED")
    assert _history(second, run_id, "dev/score") == [(1, 40.0), (2, 50.0), (3, 55.0)]
    assert _history(second, run_id, "xtreme/score") == [(2, 20.0), (3, 21.0)]
    assert _history(second, run_id, "train/target/xnli/loss") == [(10, 1.1), (20, 0.9)]

    # A run that FINISHED stays as it is; the first invocation's parent is closed as KILLED.
    third = _tracker(tmp_path)
    third.start_sweep({}, {})
    assert third.trial_run("cell#0", "t_00009", "cell", {}, name="trial") == (run_id, True)
    parents = third._search("tags.`xscale.role` = 'sweep'")
    assert sorted(p.info.status for p in parents) == ["KILLED", "KILLED", "RUNNING"]


def test_tracking_uris_mlflow_would_reject():
    assert check_uri("sqlite:////tmp/x.db") is None and check_uri("http://127.0.0.1:5000") is None
    assert "not a URI" in check_uri("/some/plain/path")
    assert "unknown scheme 'sqlit'" in check_uri("sqlit:///x.db")
    assert "three slashes" in check_uri("sqlite://x.db")
