"""The one training loop: forward, loss, backward, clip, step, schedule, log. Nothing else lives here."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from xscale.spec import PRECISIONS


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run."""

    steps: int
    """Optimizer steps."""
    lr: float
    """Peak learning rate."""
    warmup_fraction: float = 0.1
    """Fraction of steps with linear warmup (then linear decay to zero, or see `decay_start`)."""
    warmup_steps: int | None = None
    """Warmup length in steps, overriding `warmup_fraction` (a pretraining branch warms up as its trunk did)."""
    decay_start: int | None = None
    """Warmup-stable-decay: the rate stays at its peak until this step, then decays linearly to zero at
    `steps` (None: decay right after warmup)."""
    start_step: int = 0
    """Steps already taken (a branch resumed from its trunk): the loop runs steps start_step+1..steps."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm weights)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    log_every: int = 50
    """Steps between `on_log` calls."""
    compile: bool = False
    """Run the model's forward through `torch.compile` (pays a compilation on the first steps)."""
    precision: str = "auto"
    """Numerics of the forward pass and loss: "bf16" (autocast; weights, gradients and optimizer state
    stay float32), "float32", or "auto" (bf16 on a GPU, see `resolve_precision`)."""
    nan_after_steps: int | None = None
    """Fault injection for tests: the loss becomes NaN at this step."""


@dataclass
class TrainResult:
    steps: int
    tokens: int
    seconds: float
    final_loss: float
    losses: list[float] = field(default_factory=list)
    """Mean loss of each logging window."""
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    """(step, mean loss of the window ending there, learning rate of that step) per logging window."""


def device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: str, dev: torch.device) -> str:
    """"bf16" or "float32" for `dev`. "auto" is bf16 on a CUDA GPU that supports it and float32 on a CPU:
    on a CPU with AVX-512 BF16, bf16 can make trials faster at the same memory (1.05-1.46x at s and m on
    the hosts measured, see docs/performance.md) but changes their numbers, and golden numbers and cached
    results should not depend on the machine's instruction set, so a CPU runs bf16 only when asked to."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if dev.type == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    return precision


def autocast(precision: str, dev: torch.device):
    """bf16 autocast on `dev` when `precision` resolves to bf16, else a context that does nothing.
    Wrap forward passes and the loss only: backward and the optimizer step run outside it."""
    if resolve_precision(precision, dev) == "bf16":
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """The learning rate of 0-based optimizer step `step`, as a fraction of the peak."""
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, int(cfg.warmup_fraction * cfg.steps))
    decay_start = max(warmup, cfg.decay_start if cfg.decay_start is not None else warmup)
    if step < warmup:
        return (step + 1) / warmup
    if step < decay_start:
        return 1.0
    return max(0.0, (cfg.steps - step) / max(1, cfg.steps - decay_start))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, state: dict | None = None):
    """AdamW (no weight decay on biases and norms) and its schedule; `state` continues an earlier run
    (loaded before the schedule is made, which then sets the rate of step `cfg.start_step`)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # Fused on a GPU only: on a CPU it saves ~2 ms a step but rounds differently, and that rounding alone
    # flipped whether a task at the edge of learning learned (docs/performance.md).
    fused = next(model.parameters()).is_cuda
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=fused)
    if state is not None:
        opt.load_state_dict(state)
        for group in opt.param_groups:
            group["initial_lr"] = cfg.lr
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(cfg, cfg.start_step + step))


def to_device(obj, dev: torch.device):
    """Move the tensors of a (possibly nested) batch to `dev`."""
    if isinstance(obj, torch.Tensor):
        return obj.to(dev, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, dev) for k, v in obj.items()}
    return obj


def count_tokens(batch) -> int:
    """Non-padding tokens in a (possibly nested) batch."""
    if isinstance(batch, dict):
        if "attention_mask" in batch:
            return int(batch["attention_mask"].sum())
        return sum(count_tokens(v) for v in batch.values())
    return 0


def default_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).loss


def train(
    model: torch.nn.Module,
    batches: Iterator[dict[str, torch.Tensor]],
    cfg: TrainConfig,
    loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor] = default_loss,
    on_step: Callable[[int, torch.optim.Optimizer], None] | None = None,
    on_log: Callable[[int, float], None] | None = None,
    optimizer_state: dict | None = None,
) -> TrainResult:
    """Train `model` from step `cfg.start_step` to `cfg.steps` on `batches` (an endless iterator of
    tensors on CPU), continuing from `optimizer_state` when given.

    `on_step(step, optimizer)` runs after each optimizer step (pretraining saves checkpoints there);
    `on_log(step, loss)` every `cfg.log_every` steps.
    """
    dev = next(model.parameters()).device
    precision = resolve_precision(cfg.precision, dev)  # once, not on every step
    opt, sched = make_optimizer(model, cfg, optimizer_state)
    model.train()
    # The compiled wrapper shares the model's parameters; callers keep using `model` itself.
    forward_model = torch.compile(model) if cfg.compile else model
    tokens, losses, curve, t0 = 0, [], [], time.perf_counter()
    window = [0.0, 0]  # sum and count of the losses since the last log

    def record(step: int, loss: torch.Tensor) -> None:
        value = loss.item()
        if not math.isfinite(value):
            raise DivergedError(f"loss became {value} at step {step}")
        window[0] += value
        window[1] += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            losses.append(window[0] / window[1])
            curve.append((step, losses[-1], cfg.lr * lr_factor(cfg, step - 1)))
            window[:] = [0.0, 0]
            if on_log:
                on_log(step, losses[-1])

    # Each step's loss is read on the host one step late, after the next step is queued: reading it
    # at once would make a GPU wait for the host every step (on a CPU both orders cost the same).
    previous: tuple[int, torch.Tensor] | None = None
    for step in range(cfg.start_step + 1, cfg.steps + 1):
        batch = to_device(next(batches), dev)
        tokens += count_tokens(batch)
        with autocast(precision, dev):
            loss = loss_fn(forward_model, batch)
        if cfg.nan_after_steps is not None and step >= cfg.nan_after_steps:
            loss = loss * float("nan")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if previous is not None:
            record(*previous)
        previous = (step, loss.detach())
        if on_step:
            on_step(step, opt)
    if previous is not None:
        record(*previous)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return TrainResult(cfg.steps - cfg.start_step, tokens, time.perf_counter() - t0,
                       losses[-1] if losses else float("nan"), losses, curve)

