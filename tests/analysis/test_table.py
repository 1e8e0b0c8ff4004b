"""Best-of-cell selection, run loading (dedupe, numeric params) and derived scores."""

import pandas as pd
import pytest

from xscale.analysis.runs import runs_frame
from xscale.analysis.table import AXIS_BY_KEY, add_scores, axis_points, primary_metrics, seed_points, select_best


def test_best_of_cell_is_chosen_by_english_dev_not_by_zero_shot(trial, child):
    lucky = trial("s", 1.0, 1.0, 0, lr=1e-3, zs_bonus=20.0, dev_bonus=-30.0)
    sound = trial("s", 1.0, 1.0, 0, lr=1e-4)
    runs = runs_frame([child(*lucky, "lucky"), child(*sound, "sound")])
    assert runs["target/nli/avg/accuracy"].idxmax() == runs.index[runs["trial_id"] == "lucky"][0]
    best, unranked = select_best(runs)
    assert list(best["trial_id"]) == ["sound"] and unranked.empty


def test_failed_and_unscored_trials_are_never_selected(trial, child):
    ok = trial("s", seed=0)
    no_dev = trial("s", seed=1)
    no_dev[1].pop("dev/score")
    runs = runs_frame(
        [
            child(*ok, "ok"),
            child(*no_dev, "nodev"),
            child({**trial("s", seed=2)[0]}, {}, "failed", status="FAILED", reason="OOM"),
        ]
    )
    best, unranked = select_best(runs)
    assert list(best["trial_id"]) == ["ok"] and list(unranked["trial_id"]) == ["nodev"]


def test_resumed_trial_keeps_the_finished_run_and_params_become_numbers(trial, child):
    params, metrics = trial("s", 0.1, seed=1)
    runs = runs_frame(
        [
            child(params, metrics, "t1", status="KILLED", start=5),
            child(params, metrics, "t1", status="FINISHED", start=1),
        ]
    )
    assert len(runs) == 1 and runs.loc[0, "status"] == "FINISHED"
    assert runs.loc[0, "intermediate.fraction"] == pytest.approx(0.1) and runs.loc[0, "seed"] == 1
    assert runs.loc[0, "model.size"] == "s"


def test_scores_use_the_non_english_languages(trial, child):
    runs = runs_frame([child(*trial("s"), "t")])
    tasks = primary_metrics(runs)
    assert tasks == {"ner": "f1", "nli": "accuracy"}
    scored = add_scores(runs, tasks).iloc[0]
    langs = [c for c in runs.columns if c.startswith("target/nli/") and "/en/" not in c and "/avg/" not in c]
    assert scored["zeroshot/nli"] == pytest.approx(runs.iloc[0][langs].mean())
    assert scored["worst_lang"] < scored["zeroshot"] < scored["zeroshot"] + scored["gap"]


def test_runs_without_intermediate_data_stay_off_the_data_axis(trial, child):
    children = [
        child(*trial("s", fraction, seed=seed, task=task), f"{task}-{fraction}-{seed}")
        for task, fractions in (("mnli", (0.1, 1.0)), ("none", (0.0,)))
        for fraction in fractions
        for seed in (0, 1)
    ]
    runs = runs_frame(children)
    tasks = primary_metrics(runs)
    points = seed_points(add_scores(select_best(runs)[0], tasks))
    frame, column, _ = axis_points(points, AXIS_BY_KEY["data"])
    assert column == "scale/intermediate_examples"
    assert set(frame["intermediate.task"]) == {"mnli"} and set(frame["series"]) == {"all"}
    assert isinstance(frame, pd.DataFrame) and sorted(frame["x"].unique()) == [1e4, 1e5]


def test_a_registered_task_is_scored_by_its_primary_metric():
    # PAN-X logs token accuracy too, which the majority tag inflates: the registry says F1.
    runs = pd.DataFrame(
        {"target/panx/avg/accuracy": [80.0], "target/panx/avg/f1": [20.0], "target/xnli/avg/accuracy": [40.0]}
    )
    assert primary_metrics(runs) == {"panx": "f1", "xnli": "accuracy"}
