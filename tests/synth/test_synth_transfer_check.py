"""Seeded smoke test of the model-based rows of `xscale synth check` (transfer, graded languages, retrieval).

At this size the rows are computed, not expected to pass: the transfer criterion is measured at the
default preset by `xscale synth check` (see the README for the last table)."""

import math

import pytest

from xscale.synth import ensure
from xscale.synth.transfer_check import TRANSFER_LANGS, model_checks

pytestmark = pytest.mark.slow


def test_model_checks_run_through_the_pipeline(tmp_path):
    bench = ensure(tmp_path, preset="tiny", seed=0)
    rows = {r.check: r for r in model_checks(bench, seed=0, size="xs", pretrain_tokens=60_000)}
    assert {"transfer/gain_over_random_init", "transfer/xnli/en/accuracy", "transfer/udpos/en/f1",
            "retrieval/centred_accuracy", "graded/clone>=near", "graded/sov>=inv"} <= set(rows)
    assert all(math.isfinite(r.measured) for r in rows.values())
    # 19 steps on 200 English sentences already lift POS F1 well above a majority tagger (~10).
    assert rows["transfer/udpos/en/f1"].measured >= 30
    # Mean-centred retrieval of 50 candidates after pretraining: chance is 2%.
    assert rows["retrieval/centred_accuracy"].measured > 6
    assert len(TRANSFER_LANGS) == 4
