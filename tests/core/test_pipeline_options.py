"""The paper's alternatives run through the one pipeline: multi-task intermediate training with
temperature sampling, continued multilingual MLM, and translated intermediate data."""

import datasets
import pytest
import torch

from xscale.cache import StageCache
from xscale.pipeline import make_benchmark, run_trial
from xscale.spec import parse_spec

pytestmark = pytest.mark.slow


def test_multitask_mlm_translated_intermediate(tmp_path):
    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    spec = parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": "xs", "max_seq_len": 48},
        "pretrain": {"pretrain_tokens": 8000, "max_seq_len": 32, "batch_size": 8},
        "intermediate": {"task": "mnli+sst2", "sampling": "temperature", "mlm_weight": 0.5, "translated": True},
        "target": {"tasks": ["xnli"], "max_eval_examples": 20},
        "probes": {"max_pairs": 20},
        "optim": {"batch_size": 16},
    }, name="options")
    bench = make_benchmark(spec, tmp_path)
    # Translated intermediate data: the English rows plus one translation per other language.
    from xscale.tasks.registry import get_task

    english = len(bench.train(get_task("mnli")))
    assert len(bench.train(get_task("mnli"), translated=True)) == english * len(bench.languages(get_task("xnli")))
    reports = []
    m = run_trial(spec, spec.cells()[0], StageCache(tmp_path / "cache"), bench,
                  lambda metrics, stage: reports.append(stage), lambda msg: None)
    assert reports[:2] == ["pretrain", "intermediate"] and reports[-1] == "target/xnli"
    for key in ("intermediate/mnli/en/accuracy", "intermediate/sst2/en/accuracy", "target/xnli/vso/accuracy"):
        assert key in m
    # Both tasks' (translated) rows count as intermediate examples.
    assert m["scale/intermediate_examples"] == 2 * english * len(bench.languages(get_task("xnli")))
