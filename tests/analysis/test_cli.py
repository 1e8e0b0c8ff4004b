"""`xscale report` end to end against a real MLflow SQLite store laid out as a sweep writes it."""

import time

import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from xscale.analysis.cli import report_main
from xscale.errors import UserError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("## Q1", "## Q2", "## Anchors", "## Learning gate", "## Every effect", "## Plots", "## Runs")
FAILED_REASON = "CUDA out of memory in target stage"


def _log_trial(
    client, experiment_id, parent_id, trial_id, cell, params, metrics, status="FINISHED", reason="", start=0
):
    tags = {"mlflow.parentRunId": parent_id, "xscale.role": "trial", "xscale.trial_id": trial_id, "xscale.cell": cell}
    if reason:
        tags["xscale.failure_reason"] = reason
    run = client.create_run(experiment_id, start_time=start, tags=tags)
    now = int(time.time() * 1000)
    logged = [Metric(k, float(v), now, 1) for k, v in metrics.items()]
    # A stale value at an earlier step: the report must read the latest one.
    logged += [Metric("xtreme/score", -1.0, now, 0)] if "xtreme/score" in metrics else []
    client.log_batch(run.info.run_id, metrics=logged, params=[Param(k, str(v)) for k, v in params.items()])
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, trial, cell_of):
    """A sweep folder beside `mlflow.db`: 2 sizes x 2 fractions x 3 seeds, resumed once.

    One cell holds two learning-rate trials where the better zero-shot one has the worse dev/score;
    one cell only has a FAILED trial; one trial was KILLED in the first invocation and FINISHED in
    the second. Module-scoped because creating the SQLite store (schema migrations) takes seconds.
    """
    root = tmp_path_factory.mktemp("sweeps")
    sweep_dir = root / "demo"
    sweep_dir.mkdir()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("demo-exp", artifact_location=(root / "artifacts").as_uri())
    parent_tags = {"xscale.role": "sweep", "xscale.sweep": "demo", "xscale.sweep_dir": str(sweep_dir)}
    first = client.create_run(experiment, start_time=1_000, tags=parent_tags).info.run_id
    second = client.create_run(experiment, start_time=2_000, tags=parent_tags).info.run_id
    for parent, resume in ((first, False), (second, True)):
        client.log_param(parent, "spec.name", "demo")
        client.log_param(parent, "resume", str(resume))
        client.set_terminated(parent)
    ids = {}
    n = 0
    for size in ("xs", "s"):
        for fraction in (0.1, 1.0):
            for seed in range(3):
                n += 1
                trial_id = f"trial_{n:02d}"
                params, metrics = trial(size, fraction, 1.0, seed)
                if (size, fraction, seed) == ("s", 1.0, 2):
                    _log_trial(
                        client,
                        experiment,
                        second,
                        trial_id,
                        cell_of(params),
                        params,
                        {},
                        "FAILED",
                        FAILED_REASON,
                        start=3_000,
                    )
                    ids["failed"] = trial_id
                    continue
                if (size, fraction, seed) == ("xs", 1.0, 0):
                    _log_trial(client, experiment, first, trial_id, cell_of(params), params, {}, "KILLED", start=1_500)
                    ids["resumed"] = trial_id
                ids[trial_id] = _log_trial(
                    client, experiment, second, trial_id, cell_of(params), params, metrics, start=3_000
                )
    lucky = trial("xs", 0.1, 1.0, 0, lr=3e-3, zs_bonus=20.0, dev_bonus=-30.0)
    ids["lucky"] = _log_trial(client, experiment, second, "trial_lucky", cell_of(lucky[0]), *lucky, start=3_000)
    empty_dir = root / "empty"
    empty_dir.mkdir()
    client.create_run(experiment, tags={**parent_tags, "xscale.sweep": "empty", "xscale.sweep_dir": str(empty_dir)})
    ids["sound"] = ids["trial_01"]
    code = report_main(str(sweep_dir), None, None)
    return {"dir": sweep_dir, "client": client, "parent": second, "ids": ids, "code": code, "out": sweep_dir / "report"}


def test_report_is_written_with_every_section(sweep):
    assert sweep["code"] == 0
    text = (sweep["out"] / "report.md").read_text()
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)


def test_failed_trial_is_listed_with_its_reason(sweep):
    runs = (sweep["out"] / "report.md").read_text().split("## Runs")[1]
    assert sweep["ids"]["failed"] in runs and FAILED_REASON in runs


def test_plots_are_real_pngs(sweep):
    text = (sweep["out"] / "report.md").read_text()
    pngs = sorted(sweep["out"].glob("*.png"))
    assert {"zeroshot_vs_size.png", "zeroshot_vs_data.png", "alignment_vs_size.png", "retention_vs_size.png"} <= {
        p.name for p in pngs
    }
    # Only model size and intermediate data vary: no pretraining plot.
    assert not (sweep["out"] / "zeroshot_vs_pretrain.png").exists()
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
        assert f"]({png.name})" in text


def test_runs_csv_has_every_trial_and_the_latest_metric_values(sweep):
    runs = pd.read_csv(sweep["out"] / "runs.csv")
    # 12 cells, one extra learning-rate trial, the resumed trial counted once.
    assert len(runs) == 13 and runs["trial_id"].is_unique
    assert runs["status"].value_counts().to_dict() == {"FINISHED": 12, "FAILED": 1}
    assert (runs.loc[runs["status"] == "FINISHED", "xtreme/score"] > 0).all()


def test_best_of_cell_uses_dev_score_not_zero_shot(sweep):
    runs = pd.read_csv(sweep["out"] / "runs.csv").set_index("run_id")
    lucky, sound = runs.loc[sweep["ids"]["lucky"]], runs.loc[sweep["ids"]["sound"]]
    assert lucky["cell"] == sound["cell"]
    assert (
        lucky["target/nli/avg/accuracy"] > sound["target/nli/avg/accuracy"] and lucky["dev/score"] < sound["dev/score"]
    )
    assert bool(sound["selected"]) and not bool(lucky["selected"])


def test_a_two_size_ladder_says_why_it_does_not_extrapolate(sweep):
    text = (sweep["out"] / "report.md").read_text()
    assert "**Extrapolation**: not run (the size ladder spans 0.60 decades of non-embedding parameters over 2 sizes" in text


def test_report_is_logged_on_the_latest_parent_run(sweep):
    logged = {a.path for a in sweep["client"].list_artifacts(sweep["parent"], "report")}
    assert {"report/report.md", "report/runs.csv", "report/effects.csv", "report/zeroshot_vs_size.png"} <= logged


def test_user_errors(sweep, tmp_path):
    with pytest.raises(UserError, match="sweep folder not found"):
        report_main(str(tmp_path / "nope"), None, None)
    with pytest.raises(UserError, match="no MLflow store"):
        report_main(str(tmp_path), None, None)
    other = sweep["dir"].parent / "other"
    other.mkdir()
    with pytest.raises(UserError, match="no sweep run"):
        report_main(str(other), None, None)
    with pytest.raises(UserError, match="no trial runs"):
        report_main(str(sweep["dir"].parent / "empty"), None, None)


def test_a_fresh_sweep_into_a_reused_folder_drops_the_earlier_sweeps_trials(sweep, trial, cell_of):
    """Sweep, delete the folder, sweep again without --resume: only the second sweep's trials count."""
    from xscale.analysis.runs import load_runs

    client, root = sweep["client"], sweep["dir"].parent
    redo = root / "redo"
    redo.mkdir()
    experiment = client.get_experiment_by_name("demo-exp").experiment_id
    tags = {"xscale.role": "sweep", "xscale.sweep": "redo", "xscale.sweep_dir": str(redo)}
    kept = {}
    for start, resume in ((10_000, "False"), (20_000, "False"), (30_000, "True")):
        parent = client.create_run(experiment, start_time=start, tags=tags).info.run_id
        client.log_batch(parent, params=[Param("spec.name", "redo"), Param("resume", resume)])
        client.set_terminated(parent)
        params, metrics = trial("xs", 0.1, 1.0, start // 10_000)
        kept[start] = _log_trial(client, experiment, parent, f"t{start}", cell_of(params), params, metrics,
                                 start=start + 1)
    info, runs = load_runs(f"sqlite:///{root / 'mlflow.db'}", str(redo))
    assert set(runs["run_id"]) == {kept[20_000], kept[30_000]}
    assert len(info["run_ids"]) == 2
