"""The training loop on a seeded tiny model: golden losses, NaN detection, schedule, one loop for all heads."""

import math

import pytest
import torch

from xscale import models
from xscale.train import DivergedError, TrainConfig, train


def _batches(vocab, seed=0, n_labels=3):
    g = torch.Generator().manual_seed(seed)
    while True:
        ids = torch.randint(5, vocab, (8, 12), generator=g)
        yield {"input_ids": ids, "attention_mask": torch.ones_like(ids),
               "labels": torch.randint(0, n_labels, (8,), generator=g)}


def _model():
    torch.manual_seed(0)
    cfg = models.scratch_config("xs", vocab_size=50, max_seq_len=16)
    return models.build(cfg, "pair_classification", num_labels=3, seed=0)


def test_golden_losses():
    torch.set_num_threads(1)
    model = _model()
    res = train(model, _batches(50), TrainConfig(steps=20, lr=3e-3, log_every=10))
    assert res.steps == 20 and res.tokens == 20 * 8 * 12
    # Golden values of this seeded tiny model: a change here means training changed.
    assert res.losses == pytest.approx(GOLDEN, abs=1e-4), res.losses


GOLDEN = [1.10261, 1.09511]


def test_nan_is_detected():
    with pytest.raises(DivergedError, match="step 3"):
        train(_model(), _batches(50), TrainConfig(steps=10, lr=1e-3, nan_after_steps=3))


def test_learns_a_learnable_task():
    torch.set_num_threads(1)
    model = _model()

    def easy():
        g = torch.Generator().manual_seed(1)
        while True:
            ids = torch.randint(5, 50, (16, 8), generator=g)
            ids[:, 1] = torch.randint(5, 7, (16,), generator=g)  # the label is which of two tokens is here
            yield {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids[:, 1] - 5}

    res = train(model, easy(), TrainConfig(steps=150, lr=3e-3, warmup_fraction=0.1, log_every=50))
    assert res.losses[-1] < 0.3 * math.log(3), res.losses


def test_param_counts_span_the_ladder():
    counts = {s: models.count_params(models.scratch_config(s, 5000, 64))["non_embedding_params"] for s in models.SIZES}
    assert counts["xs"] < counts["s"] < counts["m"] < counts["l"]
    assert 20 <= counts["l"] / counts["xs"] <= 60
