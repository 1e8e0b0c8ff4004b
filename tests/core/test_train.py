"""The training loop on a seeded tiny model: golden losses, NaN detection, schedule, one loop for all heads,
float32 and bf16."""

import math

import numpy as np
import pytest
import torch
from datasets import Dataset

from xscale import formats, models
from xscale.train import DivergedError, TrainConfig, resolve_precision, train


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
    # float32: the golden values must not depend on whether this CPU has bf16.
    res = train(model, _batches(50), TrainConfig(steps=20, lr=3e-3, log_every=10, precision="float32"))
    assert res.steps == 20 and res.tokens == 20 * 8 * 12
    # Golden values of this seeded tiny model: a change here means training changed.
    assert res.losses == pytest.approx(GOLDEN, abs=1e-4), res.losses


GOLDEN = [1.10261, 1.09511]


def test_nan_is_detected():
    with pytest.raises(DivergedError, match="step 3"):
        train(_model(), _batches(50), TrainConfig(steps=10, lr=1e-3, nan_after_steps=3))


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_learns_a_learnable_task(precision):
    torch.set_num_threads(1)
    model = _model()

    def easy():
        g = torch.Generator().manual_seed(1)
        while True:
            ids = torch.randint(5, 50, (16, 8), generator=g)
            ids[:, 1] = torch.randint(5, 7, (16,), generator=g)  # the label is which of two tokens is here
            yield {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids[:, 1] - 5}

    res = train(model, easy(), TrainConfig(steps=150, lr=3e-3, warmup_fraction=0.1, log_every=50, precision=precision))
    assert res.losses[-1] < 0.3 * math.log(3), res.losses
    # bf16 is autocast: the weights the optimizer updates stay float32.
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_auto_precision_is_bf16_on_a_gpu_and_float32_on_a_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "float32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_precision("float32", torch.device("cuda")) == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_inference_returns_float32_close_to_float32():
    torch.set_num_threads(1)
    model = _model()
    g = torch.Generator().manual_seed(3)
    ids = [torch.randint(5, 50, (int(n),), generator=g).tolist() for n in torch.randint(4, 16, (40,), generator=g)]
    encoded = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]})
    full = formats.predict(model, encoded, pad_id=1, batch_size=16, precision="float32")["logits"]
    half = formats.predict(model, encoded, pad_id=1, batch_size=16, precision="bf16")["logits"]
    assert all(h.dtype == np.float32 for h in half)
    assert np.abs(np.stack(full) - np.stack(half)).max() < 0.05
    assert not np.array_equal(np.stack(full), np.stack(half))  # bf16 did run: its rounding shows


def test_param_counts_span_the_ladder():
    counts = {s: models.count_params(models.scratch_config(s, 5000, 64))["non_embedding_params"] for s in models.SIZES}
    assert counts["xs"] < counts["s"] < counts["m"] < counts["l"]
    assert 20 <= counts["l"] / counts["xs"] <= 60
