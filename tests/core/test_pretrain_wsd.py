"""The pretraining axis: with warmup-stable-decay every checkpoint fraction is a finished model (its own
cooldown, f of the tokens), branched off one constant-rate trunk per size and seed."""

import datasets
import pytest
import torch

from xscale import mlm, models
from xscale.cache import StageCache
from xscale.data import make as make_data
from xscale.errors import UserError
from xscale.keys import TrialPoint
from xscale.pipeline import Context, corpus_batches, load_encoder, pretrain_stage
from xscale.spec import parse_spec
from xscale.train import TrainConfig, lr_factor, train

pytestmark = pytest.mark.slow


def _spec(**pretrain):
    return parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": "xs", "max_seq_len": 32},
        "pretrain": {"pretrain_tokens": 6000, "max_seq_len": 32, "batch_size": 4, "short_seq_len": 8,
                     "short_seq_fraction": 0.3, "warmup_fraction": 0.1, "decay_fraction": 0.25,
                     "checkpoint_fraction": {"grid": [0.5, 1.0]}, **pretrain},
        "intermediate": {"task": "none"},
        "target": {"tasks": ["udpos"]},
        "probes": {"after": []},
    }, name="wsd")


def test_plan_puts_each_cooldown_at_the_end_of_its_fraction():
    plan = mlm.Plan.of(_spec().pretrain)
    assert plan.steps == 50 and plan.warmup_steps == 5 and plan.short_steps == 15
    assert plan.branch(1.0) == (38, 50) and plan.branch(0.5) == (19, 25)


def test_the_branch_schedule_at_f1_is_the_full_runs():
    """Trunk (constant after warmup) then the f=1 branch: step for step the rate of one WSD run."""
    plan = mlm.Plan.of(_spec().pretrain)
    start, end = plan.branch(1.0)
    full = TrainConfig(steps=end, lr=1.0, warmup_steps=plan.warmup_steps, decay_start=start)
    trunk = TrainConfig(steps=start, lr=1.0, warmup_steps=plan.warmup_steps, decay_start=start)
    branch = TrainConfig(steps=end, lr=1.0, warmup_steps=plan.warmup_steps, decay_start=start, start_step=start)
    pieced = [lr_factor(trunk, k) for k in range(start)] + [lr_factor(branch, k) for k in range(start, end)]
    assert pieced == [lr_factor(full, k) for k in range(end)]
    assert pieced[plan.warmup_steps - 1] == 1.0 and pieced[start] == 1.0 and 0 < pieced[-1] < 0.1


def test_trunk_and_branch_equal_one_uninterrupted_run(tmp_path):
    """The f=1 checkpoint from trunk + cached branch is bit-identical to a single WSD run from scratch:
    the branch resumes the trunk's optimizer moments, RNG and place in the data."""
    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    spec = _spec()
    data = make_data(spec, tmp_path)
    point = TrialPoint.from_config(spec.cells()[-1])
    assert point.checkpoint_fraction == 1.0
    ctx = Context(spec, point, StageCache(tmp_path / "cache"), data, lambda msg: None)
    config, state, key = pretrain_stage(ctx)

    plan = mlm.Plan.of(spec.pretrain)
    start, end = plan.branch(1.0)
    model = models.build(config, "mlm", seed=0)
    cfg = TrainConfig(steps=end, lr=spec.pretrain.lr, warmup_steps=plan.warmup_steps, decay_start=start,
                      weight_decay=0.01, max_grad_norm=1.0)
    train(model, corpus_batches(ctx, 32, 4, spec.pretrain.pretrain_tokens, plan.short_steps), cfg,
          loss_fn=mlm.mlm_loss)
    reference = models.encoder_state(model)
    assert set(reference) == set(state)
    for name, value in reference.items():
        assert torch.equal(value, state[name]), name
    assert ctx.tokens["pretrain"] == end * plan.tokens_per_step


def test_one_trunk_serves_every_fraction(tmp_path):
    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    spec = _spec()
    data = make_data(spec, tmp_path)
    cache = StageCache(tmp_path / "cache")
    tokens = {}
    for cell in spec.cells():
        ctx = Context(spec, TrialPoint.from_config(cell), cache, data, lambda msg: None)
        _, _, key = pretrain_stage(ctx)
        tokens[cell["pretrain.checkpoint_fraction"]] = ctx.tokens["pretrain"]
    assert [c.split("/")[0] for c in cache.computed] == ["pretrain", "cooldown", "cooldown"]
    plan = mlm.Plan.of(spec.pretrain)
    assert tokens == {0.5: 25 * plan.tokens_per_step, 1.0: 50 * plan.tokens_per_step}
    trunk = next((tmp_path / "cache" / "pretrain").glob("*/entry.json")).parent
    assert sorted(p.name for p in trunk.glob("step-*")) == ["step-19", "step-38"]
    _, branch_half = load_encoder(next(iter(sorted((tmp_path / "cache" / "cooldown").glob("*/")))))
    assert branch_half


def test_a_checkpoint_inside_the_short_sequence_phase_is_refused():
    with pytest.raises(UserError, match=r"pretrain.checkpoint_fraction: 0.2 branches off at 15% of pretraining, "
                                        r"inside the short-sequence phase \(the first 30%\)"):
        _spec(checkpoint_fraction={"grid": [0.2, 1.0]})
    assert _spec(checkpoint_fraction={"grid": [0.2, 1.0]}, schedule="linear").pretrain.schedule == "linear"
