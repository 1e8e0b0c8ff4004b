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
def trial(spec, bench, cache_root, tmp_path_factory):
    point = TrialPoint.from_config({**spec.cells()[0], "optim.lr": spec.optim.lr,
                                    "optim.warmup_fraction": spec.optim.warmup_fraction})
    assert point.intermediate_task == "mnli" and point.size == "xs"
    cache = StageCache(tmp_path_factory.mktemp("stages"))
    reports, lines, tags = [], [], {}

    def report(metrics, stage, **kw):
        reports.append(stage)
        tags.update(kw.get("tags", {}))

    metrics = run_trial(spec, point, cache, bench, report, lines.append)
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
