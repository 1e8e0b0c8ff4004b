"""The CUDA path: bf16 autocast, fused AdamW, torch.compile and a whole trial on the GPU.

Skipped without a CUDA device (CI has none); run on a GPU machine with `pytest -m gpu`.
"""

import math

import pytest
import torch

from xscale import models
from xscale.train import TrainConfig, train

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def _batches(vocab=200, batch=16, seq=24):
    g = torch.Generator().manual_seed(0)
    fixed = []
    for _ in range(4):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        fixed.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids[:, 0] % 3})
    while True:
        yield from fixed


@pytest.mark.parametrize("compiled", [False, True])
def test_loop_learns_on_cuda(compiled):
    cfg = models.scratch_config("xs", 200, 32)
    model = models.build(cfg, "pair_classification", num_labels=3, seed=0).to("cuda")
    res = train(model, _batches(), TrainConfig(steps=60, lr=2e-3, log_every=10, compile=compiled))
    assert all(math.isfinite(x) for x in res.losses)
    assert res.losses[-1] < 0.5 * res.losses[0], res.losses  # four fixed batches: memorised
    assert next(model.parameters()).dtype == torch.float32  # autocast leaves the master weights in fp32


def test_smoke_trial_on_cuda(tmp_path):
    import datasets

    from xscale.cache import StageCache
    from xscale.data import make as make_data
    from xscale.keys import TrialPoint
    from xscale.pipeline import run_trial
    from xscale.spec import parse_spec

    datasets.disable_progress_bars()
    spec = parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": "xs", "max_seq_len": 48},
        "pretrain": {"pretrain_tokens": 20000, "max_seq_len": 32, "batch_size": 16},
        "target": {"tasks": ["xnli", "udpos", "xquad", "tatoeba"], "max_eval_examples": 40},
        "probes": {"max_pairs": 40},
    }, name="gpu")
    stages = []
    m = run_trial(spec, TrialPoint.from_config(spec.cells()[0]), StageCache(tmp_path / "cache"), make_data(spec, tmp_path),
                  lambda metrics, stage, **_: stages.append(stage), lambda msg: None)
    assert stages[:2] == ["pretrain", "intermediate"] and stages[-1] == "target/tatoeba"
    for key in ("xtreme/score", "target/xnli/en/accuracy", "target/udpos/avg/f1", "align/pretrain/retrieval/avg/accuracy"):
        assert math.isfinite(m[key]), key
