"""The one training loop: forward, loss, backward, clip, step, schedule, log. Nothing else lives here."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch


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
    """Fraction of steps with linear warmup (then linear decay to zero)."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm weights)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    log_every: int = 50
    """Steps between `on_log` calls."""
    compile: bool = False
    """Run the model's forward through `torch.compile` (pays a compilation on the first steps)."""
    nan_after_steps: int | None = None
    """Fault injection for tests: the loss becomes NaN at this step."""


@dataclass
class TrainResult:
    steps: int
    tokens: int
    seconds: float
    final_loss: float
    losses: list[float] = field(default_factory=list)


def device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(model.parameters()).is_cuda
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=fused)
    warmup = max(1, int(cfg.warmup_fraction * cfg.steps))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


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
    on_step: Callable[[int], None] | None = None,
    on_log: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train `model` for `cfg.steps` steps on `batches` (an endless iterator of tensors on CPU).

    `on_step(step)` runs after each optimizer step (pretraining saves checkpoints there);
    `on_log(step, loss)` every `cfg.log_every` steps.
    """
    dev = next(model.parameters()).device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
    opt, sched = make_optimizer(model, cfg)
    model.train()
    # The compiled wrapper shares the model's parameters; callers keep using `model` itself.
    forward_model = torch.compile(model) if cfg.compile else model
    tokens, losses, t0 = 0, [], time.perf_counter()
    running = 0.0

    def record(step: int, loss: torch.Tensor) -> None:
        nonlocal running
        value = loss.item()
        if not math.isfinite(value):
            raise DivergedError(f"loss became {value} at step {step}")
        running += value
        if step % cfg.log_every == 0 or step == cfg.steps:
            n = step % cfg.log_every or cfg.log_every
            losses.append(running / n)
            running = 0.0
            if on_log:
                on_log(step, losses[-1])

    # Each step's loss is read on the host one step late, after the next step is queued: reading it
    # at once would make a GPU wait for the host every step (on a CPU both orders cost the same).
    previous: tuple[int, torch.Tensor] | None = None
    for step in range(1, cfg.steps + 1):
        batch = to_device(next(batches), dev)
        tokens += count_tokens(batch)
        with autocast:
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
            on_step(step)
    if previous is not None:
        record(*previous)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return TrainResult(cfg.steps, tokens, time.perf_counter() - t0, losses[-1] if losses else float("nan"), losses)

