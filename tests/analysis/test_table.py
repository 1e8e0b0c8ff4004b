"""Best-of-cell selection, run loading (dedupe, numeric params), the learning gate and derived scores."""

import numpy as np
import pandas as pd
import pytest

from xscale.analysis.runs import runs_frame
from xscale.analysis.table import (
    AXIS_BY_KEY,
    axis_points,
    gate_and_score,
    primary_metrics,
    seed_points,
    select_best,
)


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
    runs = runs_frame([child(*ok, "ok"), child(*no_dev, "nodev"),
                       child({**trial("s", seed=2)[0]}, {}, "failed", status="FAILED", reason="OOM")])
    best, unranked = select_best(runs)
    assert list(best["trial_id"]) == ["ok"] and list(unranked["trial_id"]) == ["nodev"]


def test_resumed_trial_keeps_the_finished_run_and_params_become_numbers(trial, child):
    params, metrics = trial("s", 0.1, seed=1)
    runs = runs_frame([child(params, metrics, "t1", status="KILLED", start=5),
                       child(params, metrics, "t1", status="FINISHED", start=1)])
    assert len(runs) == 1 and runs.loc[0, "status"] == "FINISHED"
    assert runs.loc[0, "intermediate.fraction"] == pytest.approx(0.1) and runs.loc[0, "seed"] == 1


def test_scores_use_the_non_english_languages(trial, child):
    runs = runs_frame([child(*trial("s"), "t")])
    tasks = primary_metrics(runs)
    assert tasks == {"ner": "f1", "nli": "accuracy"}
    scored = gate_and_score(runs, tasks).frame.iloc[0]
    langs = [c for c in runs.columns if c.startswith("target/nli/") and "/en/" not in c and "/avg/" not in c]
    assert scored["zeroshot/nli"] == pytest.approx(runs.iloc[0][langs].mean())
    assert scored["worst_lang"] < scored["zeroshot"] < scored["zeroshot"] + scored["gap"]
    assert scored["lang/clone"] > scored["lang/inv"]


def _registry_runs(xnli_dev, udpos_dev=95.0, logged_gate=None):
    """Runs with two registered target tasks (XNLI-like chance 33.3, gate 58.3; POS gate 40) and Tatoeba."""
    rows = []
    for i, dev in enumerate(xnli_dev):
        row = {"run_id": f"r{i}", "trial_id": f"t{i}", "cell": f"c{i}", "status": "FINISHED", "seed": i,
               "model.size": "s", "dev/score": 50.0,
               "dev/xnli/en/accuracy": dev, "dev/udpos/en/f1": udpos_dev,
               "target/xnli/avg/accuracy": 34.0 + i, "target/udpos/avg/f1": 60.0 + i,
               "target/tatoeba/avg/accuracy": 10.0}
        for lang in ("clone", "near"):
            row.update({f"target/xnli/{lang}/accuracy": 34.0 + i, f"target/udpos/{lang}/f1": 60.0 + i,
                        f"target/tatoeba/{lang}/accuracy": 10.0})
        if logged_gate is not None:
            row["learned/target/xnli"] = logged_gate[i]
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_target_that_did_not_learn_in_english_is_kept_out_of_the_aggregates():
    runs = _registry_runs([80.0, 33.4, 90.0])
    gated = gate_and_score(runs, primary_metrics(runs))
    assert set(gated.answer_tasks) == {"udpos", "tatoeba"}  # retrieval trains nothing: not gated
    n, total, dev = gated.failed["xnli"]
    assert (n, total) == (1, 3) and dev == "English dev 33.4-33.4"  # the range where it did not learn
    frame = gated.frame
    assert frame["zeroshot"].tolist() == pytest.approx([35.0, 35.5, 36.0])  # mean of udpos and tatoeba only
    assert np.isnan(frame.loc[1, "zeroshot/xnli"]) and frame.loc[0, "zeroshot/xnli"] == 34.0


def test_a_target_held_back_from_zero_shot_in_every_trial_is_still_listed_as_not_learned():
    # `target.gate_zero_shot`: a task below the gate logs its English dev score and gate, no zero-shot score.
    runs = _registry_runs([33.4, 40.0], logged_gate=[0.0, 0.0])
    runs = runs.drop(columns=[c for c in runs.columns if c.startswith("target/xnli/")])
    tasks = primary_metrics(runs)
    assert tasks["xnli"] == "accuracy"
    gated = gate_and_score(runs, tasks)
    assert gated.failed["xnli"] == (2, 2, "English dev 33.4-40.0")
    assert set(gated.answer_tasks) == {"udpos", "tatoeba"}
    assert gated.frame["zeroshot/xnli"].isna().all()
    assert gated.frame["zeroshot"].tolist() == pytest.approx([35.0, 35.5])


def test_the_logged_gate_wins_over_the_threshold():
    runs = _registry_runs([80.0, 80.0], logged_gate=[1.0, 0.0])
    assert gate_and_score(runs, primary_metrics(runs)).failed["xnli"][:2] == (1, 2)


def test_an_intermediate_task_that_did_not_learn_keeps_its_trial_out_except_on_the_data_axis():
    def run(fraction, seed, learned):
        return {"run_id": f"r{fraction}-{seed}", "trial_id": f"t{fraction}-{seed}", "cell": f"c{fraction}-{seed}",
                "status": "FINISHED", "seed": seed, "model.size": "s", "intermediate.task": "mnli",
                "intermediate.fraction": fraction, "pretrain.checkpoint_fraction": 1.0, "dev/score": 50.0,
                "scale/intermediate_examples": fraction * 1000, "learned/intermediate/mnli": learned,
                "intermediate/mnli/en/accuracy": 70.0 if learned else 34.0,
                "dev/udpos/en/f1": 95.0, "target/udpos/avg/f1": 60.0, "target/udpos/clone/f1": 60.0}
    runs = pd.DataFrame([run(0.1, 0, 0.0), run(1.0, 0, 1.0), run(0.1, 1, 0.0), run(1.0, 1, 0.0)])
    gated = gate_and_score(runs, primary_metrics(runs))
    # Seed 0 learned at its largest fraction: its small fraction is a point of the dose-response.
    assert gated.frame.set_index("run_id")["int_ok"].to_dict() == {"r0.1-0": 1.0, "r1.0-0": 1.0,
                                                                   "r0.1-1": 0.0, "r1.0-1": 0.0}
    assert gated.intermediate_failed["mnli"][:2] == (3, 4)


def test_runs_without_intermediate_data_stay_off_the_data_axis(trial, child):
    children = [child(*trial("s", fraction, seed=seed, task=task), f"{task}-{fraction}-{seed}")
                for task, fractions in (("mnli", (0.1, 1.0)), ("none", (0.0,)))
                for fraction in fractions for seed in (0, 1)]
    runs = runs_frame(children)
    points = seed_points(gate_and_score(select_best(runs)[0], primary_metrics(runs)).frame)
    data = axis_points(points, AXIS_BY_KEY["data"])
    assert data.x_column == "scale/intermediate_examples"
    assert set(data.frame["intermediate.task"]) == {"mnli"} and set(data.frame["series"]) == {"all"}
    assert sorted(data.frame["x"].unique()) == [1e4, 1e5]


def test_a_registered_task_is_scored_by_its_primary_metric():
    # PAN-X logs token accuracy too, which the majority tag inflates: the registry says F1.
    runs = pd.DataFrame({"target/panx/avg/accuracy": [80.0], "target/panx/avg/f1": [20.0],
                         "target/xnli/avg/accuracy": [40.0]})
    assert primary_metrics(runs) == {"panx": "f1", "xnli": "accuracy"}
