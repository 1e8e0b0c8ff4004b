"""Seeded smoke test of the model-based rows of `xscale synth check` (transfer, graded languages, retrieval).

At this size the rows are computed, not expected to pass: the transfer criterion is measured at the
default preset by `xscale synth check` (see the README for the last table)."""

import math

import pytest

from xscale.synth import ensure
from xscale.synthcheck.transfer import TRANSFER_LANGS, model_checks

pytestmark = pytest.mark.slow


def test_model_checks_run_through_the_pipeline(tmp_path, capsys):
    bench = ensure(tmp_path, preset="tiny", seed=0)
    rows = {r.check: r for r in model_checks(bench, seed=0, size="xs", pretrain_tokens=60_000)}
    steps = [line for line in capsys.readouterr().err.splitlines() if line.startswith("synth check, seed 0:")]
    assert [line.split(":")[1].split()[0] for line in steps] == ["model", "model", "retrieval"]
    assert {"transfer/gain_over_random_init", "transfer/xnli/en/accuracy", "transfer/udpos/en/f1",
            "retrieval/centred_accuracy", "graded/clone>=near (this seed, reported)",
            "graded/sov>=inv (this seed, reported)"} <= set(rows)
    assert all(math.isfinite(r.measured) for r in rows.values())
    # 19 steps on 200 English sentences already lift POS F1 well above a majority tagger (~10).
    assert rows["transfer/udpos/en/f1"].measured >= 30
    # Mean-centred retrieval of 50 candidates after pretraining: chance is 2%.
    assert rows["retrieval/centred_accuracy"].measured > 6
    assert len(TRANSFER_LANGS) == 4


def test_pretraining_transfers_pos_zero_shot(tmp_path):
    """The seeded transfer smoke test: the check's pretraining (short-sequence MLM), then English POS
    fine-tuning, at CI size (`xs`, the `small` preset's 600k-token corpus, ~45 s) beats random
    initialisation zero-shot. Fine-tuning here is 10 epochs at 3e-4 with the embeddings trained: the
    check's own recipe (20 epochs at 6e-4, embeddings frozen) is tuned for `s` on the default preset and
    gave only +2.5 at this size. Measured on seed 0: +21.3 points averaged over clone/near/vso/sov
    (clone 48.0 against 25.3; +13.4 before `sov` became Turkish-like). At this size the short-sequence
    phase is not what makes the difference (without it: +12.1, measured before that change); at the
    check's size it is (default preset, `s`, 2.6M tokens: clone 98.9 with it, 27.4 without, 22.9 from
    random init), which only `xscale synth check` measures."""
    import datasets
    import torch

    from xscale.data.synthetic import SyntheticData
    from xscale.cache import StageCache
    from xscale.synthcheck.transfer import check_spec, run_check_trial

    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    bench = SyntheticData(ensure(tmp_path, preset="small", seed=0))
    cache = StageCache(tmp_path / "cache")
    spec = check_spec(0, "small", ("udpos",), 600_000, "xs", epochs=10, lr=3e-4, freeze_embeddings=False)
    pre, scratch = run_check_trial(spec, bench, cache, 1.0), run_check_trial(spec, bench, cache, 0.0)
    gains = [pre[f"target/udpos/{lang}/f1"] - scratch[f"target/udpos/{lang}/f1"] for lang in TRANSFER_LANGS]
    assert sum(gains) / len(gains) >= 5, gains
    assert pre["target/udpos/clone/f1"] >= scratch["target/udpos/clone/f1"] + 8, gains
