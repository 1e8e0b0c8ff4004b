"""A whole trial of xtreme_local.yaml on the real slices, through `pipeline.run_trial` (no Ray): a tiny
random XLM-R (size xs), the on-the-fly tokenizer, a few MLM steps on the slices' sentences, MNLI as
the intermediate task, then all nine XTREME targets evaluated zero-shot."""

import math

import pytest

from xscale.cache import StageCache
from xscale.keys import TrialPoint
from xscale.pipeline import run_trial

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    return StageCache(tmp_path_factory.mktemp("stages"))


@pytest.fixture(scope="module")
def trial(spec, bench, stages):
    point = TrialPoint.from_config({**spec.cells()[0], "optim.lr": spec.optim.lr,
                                    "optim.warmup_fraction": spec.optim.warmup_fraction})
    assert point.intermediate_task == "mnli" and point.size == "xs"
    reports, lines, tags = [], [], {}

    def report(metrics, stage, **kw):
        reports.append(stage)
        tags.update(kw.get("tags", {}))

    metrics = run_trial(spec, point, stages, bench, report, lines.append)
    return metrics, reports, lines, tags


def test_trial_reports_every_stage(trial, spec):
    _, reports, lines, _ = trial
    assert reports == ["pretrain", "intermediate"] + [f"target/{t}" for t in spec.target.tasks]
    assert any(line.startswith("pretrain xs: ran") for line in lines)


def test_trial_produces_the_expected_finite_metrics(trial):
    metrics, _, _, _ = trial
    expected = [
        "target/xnli/de/accuracy", "target/xnli/zh/accuracy", "target/xnli/avg/accuracy",
        "target/pawsx/de/accuracy", "target/udpos/zh/f1", "target/panx/de/f1",
        "target/xquad/de/f1", "target/xquad/zh/exact_match", "target/mlqa/de/f1", "target/tydiqa/sw/f1",
        "target/tatoeba/de/accuracy", "target/tatoeba/zh/accuracy", "target/tatoeba/sw/accuracy",
        "target/bucc/zh/f1", "intermediate/mnli/en/accuracy", "dev/xnli/en/accuracy", "dev/score",
        "xtreme/score", "align/pretrain/retrieval/de/accuracy", "align/intermediate/cka/avg/cka",
        "align/target/retrieval/avg/accuracy", "scale/params", "scale/pretrain_tokens", "scale/train_flops",
    ]
    missing = [k for k in expected if k not in metrics]
    assert not missing, missing
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    assert not bad, bad
    assert metrics["scale/pretrain_tokens"] > 0 and metrics["scale/intermediate_examples"] == 48
    assert 0 <= metrics["xtreme/score"] <= 100


def test_the_run_records_the_split_each_language_was_scored_on(trial):
    """XNLI's slices have dev files only (XTREME hides test labels): those languages are scored on dev."""
    _, _, _, tags = trial
    assert tags["data/xnli/de/split"] == "validation" and tags["data/udpos/zh/split"] == "test"


def test_gate_zero_shot_on_real_data_drops_only_the_tasks_below_the_gate(trial, spec, bench, stages):
    """The same trial with `target.gate_zero_shot` on the cached pretraining and intermediate stages: a
    task whose English dev missed the gate logs no language score and no split tag, and nothing else moves."""
    full, _, _, full_tags = trial
    gated_spec = spec.model_copy(update={"target": spec.target.model_copy(update={"gate_zero_shot": True})})
    point = TrialPoint.from_config({**gated_spec.cells()[0], "optim.lr": spec.optim.lr,
                                    "optim.warmup_fraction": spec.optim.warmup_fraction})
    tags: dict = {}
    gated = run_trial(gated_spec, point, stages, bench, lambda m, s, **kw: tags.update(kw.get("tags", {})),
                      lambda line: None)
    held_back = {k.split("/")[2] for k, v in full.items() if k.startswith("learned/target/") and v == 0.0}
    assert held_back  # a tiny random model learns little on real data
    timing = ("time/",)
    dropped = {k for k in set(full) - set(gated) if not k.startswith(timing)}
    assert dropped == {k for k in full if k.startswith("target/") and k.split("/")[1] in held_back} | {"xtreme/score"}
    assert {k: v for k, v in gated.items() if not k.startswith(timing)} == \
        {k: full[k] for k in gated if not k.startswith(timing)}
    assert {k.split("/")[1] for k in set(full_tags) - set(tags) if k.startswith("data/")} == held_back
