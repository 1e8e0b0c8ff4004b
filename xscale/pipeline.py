"""One trial = one point of the grid: pretrain -> intermediate -> target -> evaluate, probing alignment
after every stage. Each stage is cached by a content hash of its config and its input's hash.

The pipeline knows nothing of Ray or MLflow: it calls `report(metrics, stage)` after each stage and
returns every metric. Metric keys are built by `xscale.keys`.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from datasets import concatenate_datasets
from safetensors.torch import load_file, load_model, save_file, save_model

from xscale import formats, keys, mlm, models, probes
from xscale.cache import Entry, StageCache
from xscale.data import DataSource, fraction_subset
from xscale.keys import ENGLISH, TrialPoint
from xscale.spec import HUB_SIZES, Spec, Target
from xscale.tasks import metrics as task_metrics
from xscale.tasks.registry import TaskInfo, get_task, learning_threshold
from xscale.train import TrainConfig, device, resolve_precision, train

WEIGHTS = "encoder.safetensors"
CONFIG = "config.json"

Report = Callable[..., None]
"""`report(metrics, stage, curves=..., tags=...)` after each stage: every metric so far, the stage's name,
the training curves so far (`{stage}/{task}` -> [step, mean loss, learning rate] per logging window) and
the text the run records (`Context.tags`)."""
Log = Callable[[str], None]


@dataclass
class Context:
    """What every stage of one trial shares."""

    spec: Spec
    point: TrialPoint
    cache: StageCache
    data: DataSource
    log: Log
    metrics: dict[str, float] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    """Training curves by `{stage}/{task}`: [step, mean loss, learning rate] per logging window."""
    tags: dict[str, str] = field(default_factory=dict)
    """What the run records as text (`data/{task}/{lang}/split`: the split each language was scored on)."""

    def account(self, entry: Entry) -> None:
        """Count the compute time of a stage this trial ran (cache hits cost no compute)."""
        if not entry.hit:
            self.stage_seconds[f"{entry.stage}/{entry.key[:12]}"] = entry.meta["compute_seconds"]

    @property
    def seed(self) -> int:
        return self.point.seed

    @property
    def tokenizer(self):
        return self.data.tokenizer

    @property
    def precision(self) -> str:
        """This trial's forward-pass numerics, "bf16" or "float32" (`resources.precision` resolved)."""
        return resolve_precision(self.spec.resources.precision, device())

    def numerics(self) -> dict[str, str]:
        """The precision as part of a stage's cache key: bf16 results are other entries, and float32
        adds nothing, so entries made before the setting existed stay valid."""
        return {"precision": "bf16"} if self.precision == "bf16" else {}

    def train_config(self, steps: int) -> TrainConfig:
        o = self.spec.optim
        return TrainConfig(
            steps=steps,
            lr=self.point.lr,
            warmup_fraction=self.point.warmup_fraction,
            weight_decay=o.weight_decay,
            max_grad_norm=o.max_grad_norm,
            compile=self.spec.resources.compile,
            precision=self.precision,
            nan_after_steps=self.spec.debug.get("nan_after_steps"),
        )

    def finetune_config(self) -> dict[str, Any]:
        """Everything that shapes a fine-tuning stage's output (part of its cache key)."""
        return {
            "lr": self.point.lr,
            "warmup_fraction": self.point.warmup_fraction,
            "optim": self.spec.optim.model_dump(exclude={"lr", "warmup_fraction"}),
            "max_seq_len": self.spec.model.max_seq_len,
            "seed": self.seed,
            "debug": self.spec.debug,
            **self.numerics(),
        }


# ---------------------------------------------------------------------------------------------- I/O


def save_encoder(path: Path, model: torch.nn.Module) -> None:
    save_file(models.encoder_state(model), str(path / WEIGHTS))
    (path / CONFIG).write_text(model.config.to_json_string())


def load_encoder(path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path))
    return config, load_file(str(path / WEIGHTS))


def save_training_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Everything a run needs to go on from here: the whole model (head included), the optimizer's
    moments and the global RNG (dropout), as safetensors plus a JSON of the optimizer's settings."""
    path.mkdir()
    save_model(model, str(path / "model.safetensors"))
    tensors = {"rng": torch.get_rng_state()}
    groups = None
    if optimizer is not None:
        state = optimizer.state_dict()
        groups = state["param_groups"]
        for index, slots in state["state"].items():
            for name, value in slots.items():
                tensors[f"optimizer.{index}.{name}"] = value.detach().contiguous().clone()
    save_file(tensors, str(path / "state.safetensors"))
    (path / "optimizer.json").write_text(json.dumps(groups))


def load_training_state(path: Path, model: torch.nn.Module) -> dict | None:
    """Load what `save_training_state` wrote into `model` and the global RNG; returns the optimizer's
    state dict (None when it was saved before the first step)."""
    load_model(model, str(path / "model.safetensors"))
    tensors = load_file(str(path / "state.safetensors"))
    torch.set_rng_state(tensors.pop("rng"))
    groups = json.loads((path / "optimizer.json").read_text())
    if groups is None:
        return None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, index, slot = name.split(".")
        state.setdefault(int(index), {})[slot] = value
    return {"state": state, "param_groups": groups}


# ------------------------------------------------------------------------------------------ pretrain


def pretrain_key_config(p) -> dict[str, Any]:
    """The pretraining settings that make a pretraining run (its cache key): not the checkpoint to
    take, and not the knobs that are off (so cache entries made before they existed stay valid)."""
    exclude = {"checkpoint_fraction", "checkpoints"}
    if p.short_seq_len is None:
        exclude |= {"short_seq_len", "short_seq_fraction"}
    if p.schedule == "linear":
        exclude |= {"schedule", "decay_fraction"}
    return p.model_dump(exclude=exclude)


def corpus_batches(ctx: Context, seq_len: int, batch_size: int, tokens: int, short_steps: int = 0):
    """Masked batches of this trial's corpus (see `mlm.mlm_batches`)."""
    return mlm.mlm_batches(ctx.tokenizer, ctx.data.corpus_texts(), ctx.spec.pretrain, seq_len, batch_size,
                           tokens, ctx.seed, short_steps)


def pretrain_stage(ctx: Context) -> tuple[Any, dict[str, torch.Tensor], str]:
    """The encoder at this trial's checkpoint fraction: pretrained from scratch (one run per size and
    seed serves every fraction), randomly initialised (fraction 0), or from the Hub."""
    size = ctx.point.size
    frac = ctx.point.checkpoint_fraction
    p = ctx.spec.pretrain
    if size in HUB_SIZES or ctx.spec.model.hub_id:
        source = p.checkpoints.get(frac) or models.hub_source(size, ctx.spec.model.hub_id)
        model = models.from_pretrained(source, "mlm")
        ctx.tokens["pretrain"] = 0
        return model.config, models.encoder_state(model), f"hub:{source}:{ctx.data.key}"

    tok = ctx.tokenizer
    max_len = max(p.max_seq_len, ctx.spec.model.max_seq_len)
    config = models.scratch_config(size, len(tok), max_len, tok.pad_token_id)
    shared_by = keys.pretraining_of(ctx.point.as_config())
    if shared_by is None:
        # The no-pretraining baseline (`xscale synth check` compares against it): random init.
        ctx.tokens["pretrain"] = 0
        return config, models.encoder_state(models.build(config, "mlm", seed=ctx.seed)), random_key(ctx, config)
    run_size, run_seed = shared_by
    run_cfg = {
        "benchmark": ctx.data.key,
        "size": run_size,
        "config": config.to_dict(),
        "seed": run_seed,
        "pretrain": pretrain_key_config(p),
        "debug": ctx.spec.debug,
        **ctx.numerics(),
    }
    if p.schedule == "linear":
        return _pretrain_linear(ctx, config, run_cfg)
    return _pretrain_wsd(ctx, config, run_cfg)


def random_key(ctx: Context, config) -> str:
    """The cache identity of a randomly initialised encoder. It names the architecture and the data:
    later stages' cache keys build on it, so random encoders of two sizes never share results."""
    arch = hashlib.sha256(config.to_json_string().encode()).hexdigest()[:16]
    return f"random:{ctx.point.size}:{arch}:{ctx.seed}:{ctx.data.key}"


def _pretrain_config(ctx: Context, plan: mlm.Plan, **schedule) -> TrainConfig:
    p = ctx.spec.pretrain
    return TrainConfig(lr=p.lr, warmup_steps=plan.warmup_steps, weight_decay=0.01, max_grad_norm=1.0,
                       log_every=max(1, plan.steps // 10), compile=ctx.spec.resources.compile,
                       precision=ctx.precision, nan_after_steps=ctx.spec.debug.get("pretrain_nan_after_steps"), **schedule)


def _curve(res) -> list[list[float]]:
    return [[step, loss, lr] for step, loss, lr in res.curve]


def _pretrain_wsd(ctx: Context, config, run_cfg: dict) -> tuple[Any, dict[str, torch.Tensor], str]:
    """Warmup-stable-decay: one constant-rate trunk per (size, seed) saves its state where each
    checkpoint fraction branches off; the branch (its own cached stage) cools the rate down to zero
    over its last `decay_fraction` of steps, ending at that fraction of the full run's tokens."""
    p, size = ctx.spec.pretrain, ctx.point.size
    plan = mlm.Plan.of(p)
    starts = sorted({plan.branch(f)[0] for f in ctx.spec.checkpoint_fractions()})
    trunk_cfg = {**run_cfg, "branch_steps": starts}

    def trunk(out: Path) -> dict:
        model = models.build(config, "mlm", seed=ctx.seed).to(device())
        cfg = _pretrain_config(ctx, plan, steps=starts[-1], decay_start=starts[-1])
        ctx.log(f"pretrain {size}: trunk of {starts[-1]} steps at a constant rate after {plan.warmup_steps} of "
                f"warmup; branches at steps {starts} of a {plan.steps}-step run")
        if plan.short_steps:
            ctx.log(f"pretrain {size}: first {plan.short_steps} steps at {p.short_seq_len} tokens per sequence")

        def on_step(step: int, opt) -> None:
            if step in starts:
                save_training_state(out / f"step-{step}", model, opt)

        if 0 in starts:
            save_training_state(out / "step-0", model, None)
        batches = corpus_batches(ctx, p.max_seq_len, p.batch_size, p.pretrain_tokens, plan.short_steps)
        res = train(model, batches, cfg, loss_fn=mlm.mlm_loss, on_step=on_step,
                    on_log=lambda s, loss: ctx.log(f"pretrain {size}: step {s}/{starts[-1]} loss {loss:.3f}"))
        return {"seconds": res.seconds, "final_loss": res.final_loss, "steps": starts[-1], "curve": _curve(res)}

    entry = ctx.cache.get_or_compute("pretrain", trunk_cfg, (), trunk)
    ctx.log(f"pretrain {size}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    ctx.account(entry)
    start, end = plan.branch(ctx.point.checkpoint_fraction)

    def cooldown(out: Path) -> dict:
        model = models.build(config, "mlm", seed=ctx.seed).to(device())
        optimizer_state = load_training_state(entry.path / f"step-{start}", model)
        batches = corpus_batches(ctx, p.max_seq_len, p.batch_size, p.pretrain_tokens, plan.short_steps)
        for _ in range(start):  # the branch reads on where the trunk was, with the same masks
            next(batches)
        cfg = _pretrain_config(ctx, plan, steps=end, start_step=start, decay_start=start)
        res = train(model, batches, cfg, loss_fn=mlm.mlm_loss, optimizer_state=optimizer_state)
        save_encoder(out, model)
        return {"seconds": res.seconds, "final_loss": res.final_loss, "steps": end - start, "curve": _curve(res)}

    branch = ctx.cache.get_or_compute("cooldown", {"start": start, "end": end}, (entry.key,), cooldown)
    ctx.log(f"pretrain {size}: cooldown {start}->{end} {'cache hit' if branch.hit else 'ran'} ({branch.key[:12]})")
    ctx.account(branch)
    ctx.tokens["pretrain"] = end * plan.tokens_per_step
    ctx.curves["pretrain/mlm"] = entry.meta.get("curve", []) + branch.meta.get("curve", [])
    cfg, state = load_encoder(branch.path)
    return cfg, state, branch.key


def _pretrain_linear(ctx: Context, config, run_cfg: dict) -> tuple[Any, dict[str, torch.Tensor], str]:
    """One run with a linear decay over the whole budget, saving the encoder at every fraction the sweep
    asks for: mid-run checkpoints, taken at a high rate (what `xscale synth check` measures)."""
    p, size, frac = ctx.spec.pretrain, ctx.point.size, ctx.point.checkpoint_fraction
    fractions = ctx.spec.checkpoint_fractions()
    plan = mlm.Plan.of(p)
    stage_cfg = {**run_cfg, "fractions": list(fractions)}

    def compute(out: Path) -> dict:
        save_at = {max(1, round(f * plan.steps)): f for f in fractions}
        model = models.build(config, "mlm", seed=ctx.seed).to(device())
        tokens_at: dict[str, int] = {}

        def on_step(step: int, opt) -> None:
            if step in save_at:
                d = out / f"fraction-{save_at[step]:g}"
                d.mkdir()
                save_encoder(d, model)
                tokens_at[f"{save_at[step]:g}"] = step * plan.tokens_per_step
                ctx.log(f"pretrain {size}: checkpoint at fraction {save_at[step]:g} (step {step}/{plan.steps})")

        cfg = TrainConfig(steps=plan.steps, lr=p.lr, warmup_fraction=p.warmup_fraction, weight_decay=0.01,
                          max_grad_norm=1.0, log_every=max(1, plan.steps // 10), compile=ctx.spec.resources.compile,
                          precision=ctx.precision, nan_after_steps=ctx.spec.debug.get("pretrain_nan_after_steps"))
        ctx.log(f"pretrain {size}: {plan.steps} steps, {p.pretrain_tokens:,} tokens, checkpoints at {list(fractions)}")
        if plan.short_steps:
            ctx.log(f"pretrain {size}: first {plan.short_steps} steps at {p.short_seq_len} tokens per sequence")
        batches = corpus_batches(ctx, p.max_seq_len, p.batch_size, p.pretrain_tokens, plan.short_steps)
        res = train(model, batches, cfg, loss_fn=mlm.mlm_loss, on_step=on_step,
                    on_log=lambda s, loss: ctx.log(f"pretrain {size}: step {s}/{plan.steps} loss {loss:.3f}"))
        return {"tokens_at_fraction": tokens_at, "seconds": res.seconds, "final_loss": res.final_loss,
                "steps": plan.steps, "curve": _curve(res)}

    entry = ctx.cache.get_or_compute("pretrain", stage_cfg, (), compute)
    ctx.log(f"pretrain {size}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    ctx.tokens["pretrain"] = int(entry.meta["tokens_at_fraction"][f"{frac:g}"])
    ctx.curves["pretrain/mlm"] = entry.meta.get("curve", [])
    ctx.account(entry)
    cfg, state = load_encoder(entry.path / f"fraction-{frac:g}")
    return cfg, state, f"{entry.key}@{frac:g}"


# -------------------------------------------------------------------------------------- fine-tuning


class MultiTask(torch.nn.Module):
    """Several task heads over one shared encoder (multi-task intermediate training, optional MLM)."""

    def __init__(self, heads: dict[str, torch.nn.Module]):
        super().__init__()
        first = next(iter(heads.values()))
        for m in heads.values():
            setattr(m, m.base_model_prefix, first.base_model)
            m.tie_weights()  # an MLM head's decoder must follow the shared embeddings
        self.heads = torch.nn.ModuleDict(heads)
        self.config = first.config

    @property
    def base_model(self):
        return next(iter(self.heads.values())).base_model

    def forward(self, task: str, **batch):
        return self.heads[task](**batch)


def _mixed_batches(streams: dict[str, Iterator[dict]], weights: dict[str, float], seed: int,
                   mlm_items: Iterator[dict] | None) -> Iterator[dict]:
    rng = np.random.default_rng(seed)
    names = list(streams)
    p = np.array([weights[n] for n in names], dtype=float)
    p /= p.sum()
    while True:
        name = names[int(rng.choice(len(names), p=p))]
        yield {"task": name, "batch": next(streams[name]), "mlm": next(mlm_items) if mlm_items is not None else None}


def _multitask_loss(mlm_weight: float):
    def loss(model: MultiTask, item: dict) -> torch.Tensor:
        out = model(item["task"], **item["batch"]).loss
        if item["mlm"] is not None:
            out = out + mlm_weight * mlm.mlm_loss(model.heads["mlm"], item["mlm"])
        return out

    return loss


def evaluate(ctx: Context, task: TaskInfo, model: torch.nn.Module, sets: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Score `model` on raw rows of `task` per language ({lang: rows}), from one inference pass over
    every language's inputs (sorted by length across languages: less padding and fewer part-filled
    batches than one pass per language)."""
    cap = ctx.spec.target.max_eval_examples
    sets = {lang: ds.select(range(cap)) if cap and len(ds) > cap else ds for lang, ds in sets.items()}
    encoded = {lang: encode_cached(ctx, task, ds, train=False) for lang, ds in sets.items()}
    outputs = formats.predict(model, concatenate_datasets(list(encoded.values())), pad_id=ctx.tokenizer.pad_token_id,
                              precision=ctx.precision)
    scores, start = {}, 0
    for lang, enc in encoded.items():
        part = {k: v[start:start + len(enc)] for k, v in outputs.items()}
        scores[lang] = formats.score(task, sets[lang], enc, part, lang)
        start += len(enc)
    return scores


_ENCODED: dict[tuple, Any] = {}
"""Encoded datasets of this process, by data, rows and settings: a worker that runs several trials
tokenises each dataset once."""


def encode_cached(ctx: Context, task: TaskInfo, ds, train: bool):
    """`formats.encode`, memoised per process by the rows' fingerprint and the data's tokenizer."""
    key = (ctx.data.key, task.name, ds._fingerprint, ctx.spec.model.max_seq_len, train)
    if key not in _ENCODED:
        if len(_ENCODED) > 256:
            _ENCODED.clear()
        _ENCODED[key] = formats.encode(task, ds, ctx.tokenizer, ctx.spec.model.max_seq_len, train=train)
    return _ENCODED[key]


def _steps(n_examples: int, epochs: float, batch_size: int) -> int:
    return max(1, math.ceil(epochs * n_examples / batch_size))


def intermediate_stage(ctx: Context, config, state: dict, input_key: str) -> tuple[dict, str]:
    """English intermediate training on a nested fraction of the data; returns the encoder."""
    names = list(ctx.point.intermediate_tasks)
    if not ctx.point.has_intermediate:
        ctx.metrics[keys.scale("intermediate_examples")] = 0
        ctx.tokens["intermediate"] = 0
        return state, input_key
    it = ctx.spec.intermediate
    frac = ctx.point.intermediate_fraction
    stage_cfg = {
        "tasks": names,
        "fraction": frac,
        "intermediate": it.model_dump(exclude={"task", "fraction"}),
        **ctx.finetune_config(),
    }

    def compute(out: Path) -> dict:
        tok = ctx.tokenizer
        heads, streams, sizes, devsets = {}, {}, {}, {}
        for name in names:
            task = get_task(name)
            rows = fraction_subset(ctx.data.train(task, translated=it.translated), frac, it.max_train_examples)
            enc = encode_cached(ctx, task, rows, train=True)
            heads[name] = models.build(config, task.format, num_labels=formats.num_labels(task, rows), encoder_state=state, seed=ctx.seed)
            streams[name] = formats.batches(enc, ctx.spec.optim.batch_size, tok.pad_token_id, seed=ctx.seed)
            sizes[name] = len(rows)
            devsets[name] = (task, ctx.data.dev(task))
        mlm_items = None
        if it.mlm_weight > 0:
            heads["mlm"] = models.build(config, "mlm", encoder_state=state, seed=ctx.seed)
            mlm_items = corpus_batches(ctx, ctx.spec.pretrain.max_seq_len, ctx.spec.optim.batch_size,
                                       ctx.spec.pretrain.pretrain_tokens)
        temperature = 2.0 if it.sampling == "temperature" else 1.0
        weights = {n: sizes[n] ** (1 / temperature) for n in names}
        model = MultiTask(heads).to(device())
        steps = _steps(sum(sizes.values()), it.epochs, ctx.spec.optim.batch_size)
        ctx.log(f"intermediate {'+'.join(names)}: {sum(sizes.values())} examples, {steps} steps")
        items = _mixed_batches(streams, weights, ctx.seed, mlm_items)
        res = train(model, items, ctx.train_config(steps), loss_fn=_multitask_loss(it.mlm_weight))
        scores: dict[str, float] = {}
        for name, (task, dev) in devsets.items():
            for metric, v in evaluate(ctx, task, model.heads[name], {ENGLISH: dev})[ENGLISH].items():
                scores[keys.metric("intermediate", name, ENGLISH, metric)] = v
        save_encoder(out, model)
        return {"metrics": scores, "examples": sum(sizes.values()), "tokens": res.tokens, "seconds": res.seconds,
                "final_loss": res.final_loss, "curve": _curve(res)}

    entry = ctx.cache.get_or_compute("intermediate", stage_cfg, (input_key,), compute)
    ctx.log(f"intermediate {'+'.join(names)}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    ctx.metrics.update(entry.meta["metrics"])
    ctx.metrics[keys.scale("intermediate_examples")] = entry.meta["examples"]
    ctx.tokens["intermediate"] = entry.meta["tokens"]
    ctx.curves[f"intermediate/{'+'.join(names)}"] = entry.meta.get("curve", [])
    for name in names:
        gate = learned(get_task(name), entry.meta["metrics"].get(keys.metric("intermediate", name, ENGLISH,
                                                                             get_task(name).metric)))
        if gate is not None:
            ctx.metrics[keys.learned("intermediate", name)] = gate
    ctx.account(entry)
    _, new_state = load_encoder(entry.path)
    return new_state, entry.key


def target_stage(ctx: Context, task: TaskInfo, config, state: dict, input_key: str) -> dict[str, float]:
    """Fine-tune on English training data of `task`, evaluate zero-shot in every language (unless
    `held_back`), probe."""
    tc = ctx.spec.target
    # The gate is keyed only when on: entries made before it existed, and without it, stay valid.
    target_cfg = tc.model_dump(exclude={"tasks"} | (set() if tc.gate_zero_shot else {"gate_zero_shot"}))
    stage_cfg = {"task": task.name, "target": target_cfg,
                 "probes": ctx.spec.probes.model_dump(), **ctx.finetune_config()}

    def compute(out: Path) -> dict:
        tok = ctx.tokenizer
        scores: dict[str, float] = {}
        tokens, seconds, curve = 0, 0.0, []
        probe_model = None
        if task.format == "retrieval":
            # BUCC and Tatoeba get no target training: they score the encoder's pooled states. The
            # encoder is the one already probed after the intermediate stage, so it is not probed again.
            encoder = models.build(config, "mlm", encoder_state=state, seed=ctx.seed).base_model.to(device())
            scores.update(retrieval_scores(ctx, task, encoder))
        else:
            rows = ctx.data.train(task)
            if tc.max_train_examples:
                rows = rows.select(range(min(len(rows), tc.max_train_examples)))
            enc = encode_cached(ctx, task, rows, train=True)
            model = models.build(config, task.format, num_labels=formats.num_labels(task, rows), encoder_state=state, seed=ctx.seed).to(device())
            if tc.freeze_embeddings:
                models.freeze_embeddings(model)
            steps = _steps(len(rows), tc.epochs, ctx.spec.optim.batch_size)
            res = train(model, formats.batches(enc, ctx.spec.optim.batch_size, tok.pad_token_id, seed=ctx.seed),
                        ctx.train_config(steps))
            tokens, seconds, curve = res.tokens, res.seconds, _curve(res)
            for metric, v in evaluate(ctx, task, model, {ENGLISH: ctx.data.dev(task)})[ENGLISH].items():
                scores[keys.dev(task.name, metric)] = v
            english_dev = scores.get(keys.dev(task.name, task.metric))
            if held_back(tc, task, english_dev):
                ctx.log(f"target {task.name}: English dev {english_dev:.1f} is below "
                        f"the learning gate ({learning_threshold(task):.1f}); no zero-shot evaluation "
                        "(target.gate_zero_shot)")
            else:
                tests = {lang: ctx.data.test(task, lang) for lang in ctx.data.languages(task)}
                for lang, lang_scores in evaluate(ctx, task, model, tests).items():
                    for metric, v in lang_scores.items():
                        scores[keys.metric("target", task.name, lang, metric)] = v
            probe_model = model.base_model
        if probe_model is not None and "target" in ctx.spec.probes.after:
            for k, v in probe(ctx, probe_model).items():
                scores[f"probe/{k}"] = v
        return {"metrics": scores, "tokens": tokens, "seconds": seconds, "curve": curve}

    entry = ctx.cache.get_or_compute("target", stage_cfg, (input_key,), compute)
    ctx.log(f"target {task.name}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    english_dev = entry.meta["metrics"].get(keys.dev(task.name, task.metric))
    if not held_back(tc, task, english_dev):  # the split each language was scored on
        ctx.tags.update({keys.data_split(task.name, lang): ctx.data.eval_split(task, lang)
                         for lang in ctx.data.languages(task)})
    ctx.tokens[f"target/{task.name}"] = entry.meta["tokens"]
    if entry.meta.get("curve"):
        ctx.curves[f"target/{task.name}"] = entry.meta["curve"]
    gate = learned(task, english_dev)
    if gate is not None:
        ctx.metrics[keys.learned("target", task.name)] = gate
    ctx.account(entry)
    return entry.meta["metrics"]


def held_back(tc: Target, task: TaskInfo, english_dev: float | None) -> bool:
    """Whether `target.gate_zero_shot` keeps `task` from zero-shot evaluation: the option is on and
    the task's English dev score missed the learning gate."""
    return tc.gate_zero_shot and learned(task, english_dev) == 0.0


def learned(task: TaskInfo, english_dev: float | None) -> float | None:
    """The learning gate: 1.0 when the English dev score clears `learning_threshold`, 0.0 when it does
    not, None when the task is not gated (retrieval) or has no English dev score."""
    threshold = learning_threshold(task)
    if threshold is None or english_dev is None:
        return None
    return float(english_dev >= threshold)


def retrieval_scores(ctx: Context, task: TaskInfo, encoder) -> dict[str, float]:
    """Tatoeba accuracy@1 or BUCC F1 of every non-English language, from one embedding pass over every
    distinct sentence (the English side repeats across languages)."""
    layer, msl = ctx.spec.target.retrieval_layer, ctx.spec.model.max_seq_len
    langs = [lang for lang in ctx.data.languages(task) if lang != ENGLISH]
    if task.name == "tatoeba":
        rows = {lang: ctx.data.test(task, lang) for lang in langs}
        sides = {lang: (r["source_sentence"][:], r["target_sentence"][:]) for lang, r in rows.items()}
        vectors = _embedded(ctx, encoder, [t for src, tgt in sides.values() for t in (*src, *tgt)], layer, msl)
        return {keys.metric("target", task.name, lang, "accuracy"): task_metrics.tatoeba_accuracy(
                    vectors(src), vectors(tgt)) for lang, (src, tgt) in sides.items()}
    # BUCC: mine with a margin threshold chosen on the validation split, then score the test split.
    splits = {(lang, split): ctx.data.test(task, lang, split=split) for lang in langs for split in ("validation", "test")}
    vectors = _embedded(ctx, encoder, [t for rows in splits.values() for t in rows["sentence"]], layer, msl)
    out: dict[str, float] = {}
    for lang in langs:
        threshold = None
        for split in ("validation", "test"):
            cols = splits[(lang, split)].select_columns(["lang", "id", "sentence", "gold"]).to_dict()
            src = [i for i, code in enumerate(cols["lang"]) if code != ENGLISH]
            eng = [i for i, code in enumerate(cols["lang"]) if code == ENGLISH]
            cands = task_metrics.bucc_mine([cols["id"][i] for i in src], vectors([cols["sentence"][i] for i in src]),
                                           [cols["id"][i] for i in eng], vectors([cols["sentence"][i] for i in eng]))
            gold = {(cols["id"][i], cols["gold"][i]) for i in src if cols["gold"][i]}
            if split == "validation":
                threshold = task_metrics.bucc_best_threshold(cands, gold)
            else:
                out.update({keys.metric("target", task.name, lang, m): v
                            for m, v in task_metrics.bucc_f1(cands, gold, threshold).items()})
    return out


def _embedded(ctx: Context, encoder, texts: list[str], layer: int, max_seq_len: int):
    """Embed every distinct text once; returns a lookup from a list of texts to their vectors."""
    distinct = list(dict.fromkeys(texts))
    table = formats.embed(encoder, ctx.tokenizer, distinct, max_seq_len, layer, precision=ctx.precision)
    row = {t: i for i, t in enumerate(distinct)}
    return lambda some: table[[row[t] for t in some]]


def probe(ctx: Context, encoder) -> dict[str, float]:
    pr = ctx.spec.probes
    pairs = ctx.data.parallel(pr.max_pairs)
    return probes.alignment(encoder, ctx.tokenizer, pairs, ctx.spec.model.max_seq_len, pr.kinds, pr.layers,
                            pr.average_excludes, precision=ctx.precision)


def probe_stage(ctx: Context, after: str, config, state: dict, input_key: str) -> None:
    """Alignment of the encoder after `after` (or of its random-init reference, `after` = random),
    cached with the encoder it probes."""
    if after != "random" and after not in ctx.spec.probes.after:
        return

    def compute(out: Path) -> dict:
        encoder = models.build(config, "mlm", encoder_state=state).base_model.to(device())
        return {"metrics": probe(ctx, encoder)}

    entry = ctx.cache.get_or_compute("probe", {"probes": ctx.spec.probes.model_dump(),
                                               "max_seq_len": ctx.spec.model.max_seq_len, **ctx.numerics()},
                                     (input_key,), compute)
    ctx.account(entry)
    ctx.metrics.update(_align_metrics(after, entry.meta["metrics"]))


def _align_metrics(after: str, probed: dict[str, float]) -> dict[str, float]:
    """`{probe}/{lang}/{metric}` from `probes.alignment` as `align/{after}/{probe}/{lang}/{metric}`."""
    out = {}
    for k, v in probed.items():
        probe_name, lang, metric = k.split("/")
        out[keys.align(after, probe_name, lang, metric)] = v
    return out


# ------------------------------------------------------------------------------------------ the trial


_MMAP_THRESHOLD = 1 << 20
"""Bytes from which glibc serves an allocation with its own mapping (see `return_freed_buffers`)."""


def return_freed_buffers() -> bool:
    """Make glibc hand buffers of 1 MiB or more (activations, logits, batches) back to the OS when they
    are freed. By default glibc raises its mmap threshold each time such a buffer is freed, after which
    the buffers come from the heap, which fragments and stays at its high-water mark (an `s` trial's
    peak RSS: 862 MB by default, 745 MB with this; docs/performance.md). Returns False where the C
    library is not glibc (nothing is changed there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, _MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


KERNEL_CACHE_CAPACITY = 32
"""Compiled CPU kernels each of oneDNN's two caches keeps in a trial process (see `bound_kernel_caches`)."""

KERNEL_CACHE_VARIABLES = ("LRU_CACHE_CAPACITY", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")
"""ideep's cache (PyTorch's wrapper around oneDNN) and oneDNN's own; each keeps 1024 entries by default."""


def bound_kernel_caches() -> None:
    """Keep at most `KERNEL_CACHE_CAPACITY` compiled kernels in each cache behind PyTorch's oneDNN path.
    Every new batch shape compiles new kernels, and only with both caches small does their memory stay
    bounded: an `s` trial's peak RSS in bf16 is 1213 MB by default and about 700 MB with 32 entries, in
    float32 745 MB by default and 690-715 MB bounded, at the same speed (docs/performance.md). The caches
    read these variables when first used, so this takes effect in a process that has not run a oneDNN
    kernel yet (a trial's first step); a value already set in the environment is kept."""
    for name in KERNEL_CACHE_VARIABLES:
        os.environ.setdefault(name, str(KERNEL_CACHE_CAPACITY))


def run_trial(spec: Spec, point: TrialPoint, cache: StageCache, data: DataSource, report: Report,
              log: Log) -> dict[str, float]:
    """Run every stage of one grid point; returns the final metrics (also passed to `report`)."""
    return_freed_buffers()
    bound_kernel_caches()
    ctx = Context(spec, point, cache, data, log)
    ctx.tags[keys.PRECISION] = ctx.precision
    t0 = time.perf_counter()

    config, state, key = pretrain_stage(ctx)
    counts = models.count_params(config)
    ctx.metrics.update({keys.scale("params"): counts["params"],
                        keys.scale("non_embedding_params"): counts["non_embedding_params"],
                        keys.scale("pretrain_tokens"): ctx.tokens["pretrain"]})
    probe_stage(ctx, "pretrain", config, state, key)
    if spec.probes.random_reference and spec.probes.after:
        random_state = models.encoder_state(models.build(config, "mlm", seed=ctx.seed))
        probe_stage(ctx, "random", config, random_state, random_key(ctx, config))
    # No English dev score exists before fine-tuning; schedulers need the key in every report.
    ctx.metrics[keys.DEV_SCORE] = 0.0
    report(dict(ctx.metrics), "pretrain", curves=dict(ctx.curves), tags=dict(ctx.tags))

    state, key = intermediate_stage(ctx, config, state, key)
    probe_stage(ctx, "intermediate", config, state, key)
    ctx.metrics[keys.DEV_SCORE] = _intermediate_dev(ctx)
    report(dict(ctx.metrics), "intermediate", curves=dict(ctx.curves), tags=dict(ctx.tags))

    target_probe: dict[str, list[float]] = {}
    per_task: dict[str, dict[str, dict[str, float]]] = {}
    for name in spec.target.tasks:
        task = get_task(name)
        result = target_stage(ctx, task, config, state, key)
        per_lang: dict[str, dict[str, float]] = {}
        for k, v in result.items():
            if k.startswith("probe/"):
                target_probe.setdefault(k[len("probe/"):], []).append(v)
                continue
            ctx.metrics[k] = v
            parsed = keys.parse(k, stage="target")
            if parsed is not None:
                per_lang.setdefault(parsed.lang, {})[parsed.metric] = v
        ctx.metrics.update(language_averages("target", name, per_lang))
        per_task[name] = per_lang
        ctx.metrics[keys.DEV_SCORE] = _target_dev(ctx)
        report(dict(ctx.metrics), f"target/{name}", curves=dict(ctx.curves), tags=dict(ctx.tags))

    # The "after target" alignment is the mean over the target tasks' fine-tuned encoders (retrieval
    # tasks fine-tune nothing, so they are not in it; a spec with only retrieval targets has none).
    ctx.metrics.update(_align_metrics("target", {k: float(np.mean(v)) for k, v in target_probe.items()}))
    ctx.metrics.update(_retention(ctx.metrics))
    # XTREME's score counts XTREME's languages (the registry's lists); the synthetic languages are their own.
    # A task left unscored by `target.gate_zero_shot` leaves no score: a mean over fewer tasks is not XTREME's.
    xtreme_languages = None if data.kind == "synthetic" else {n: get_task(n).languages for n in per_task}
    if all(per_task.values()):
        ctx.metrics.update(task_metrics.xtreme_scores(per_task, xtreme_languages))
    total_tokens = sum(ctx.tokens.values())
    ctx.metrics[keys.scale("train_flops")] = 6.0 * counts["non_embedding_params"] * total_tokens
    ctx.metrics[keys.STAGE_COMPUTE_SECONDS] = sum(ctx.stage_seconds.values())
    for name, seconds in ctx.stage_seconds.items():  # per stage kind, so a sweep can say where time went
        key = keys.compute_seconds(name.split("/")[0])
        ctx.metrics[key] = ctx.metrics.get(key, 0.0) + seconds
    ctx.metrics[keys.TRIAL_SECONDS] = time.perf_counter() - t0
    cache.discard_uncached()
    return dict(ctx.metrics)


def _intermediate_dev(ctx: Context) -> float:
    vals = [v for k, v in ctx.metrics.items()
            if (p := keys.parse(k, stage="intermediate")) and p.metric in ("accuracy", "f1")]
    return float(np.mean(vals)) if vals else 0.0


def _target_dev(ctx: Context) -> float:
    """Mean English-dev score over the target tasks finished so far (primary metric of each)."""
    vals = []
    for name in ctx.spec.target.tasks:
        v = ctx.metrics.get(keys.dev(name, get_task(name).metric))
        if v is not None:
            vals.append(v)
    return float(np.mean(vals)) if vals else _intermediate_dev(ctx)


def language_averages(stage: str, task: str, per_lang: dict[str, dict[str, float]]) -> dict[str, float]:
    """`{stage}/{task}/avg/{metric}`: the mean over the non-English languages of `per_lang`
    (`{lang: {metric: value}}`)."""
    groups: dict[str, list[float]] = {}
    for lang, scores in per_lang.items():
        if lang not in (ENGLISH, keys.AVG):
            for metric, v in scores.items():
                groups.setdefault(metric, []).append(v)
    return {keys.average(stage, task, metric): float(np.mean(v)) for metric, v in groups.items()}


def _retention(m: dict[str, float]) -> dict[str, float]:
    """Alignment kept after intermediate and after target training, for every probe: the ratio to the
    alignment after pretraining (`align/retention*`) and the absolute drop from it (`align/drop*`)."""
    out = {}
    for k, base in m.items():
        parsed = keys.parse_align(k)
        if not parsed or parsed.stage != "pretrain" or parsed.lang != keys.AVG or parsed.metric not in ("accuracy", "cka"):
            continue
        for after in ("intermediate", "target"):
            v = m.get(keys.align(after, parsed.task, keys.AVG, parsed.metric))
            if v is None:
                continue
            out[keys.retention(parsed.task, after, "drop")] = base - v
            if base > 0:
                out[keys.retention(parsed.task, after)] = v / base
    return out
