"""One trial = one point of the grid: pretrain -> intermediate -> target -> evaluate, probing alignment
after every stage. Each stage is cached by a content hash of its config and its input's hash.

The pipeline knows nothing of Ray or MLflow: it calls `report(metrics, stage)` after each stage and
returns every metric. Metric keys are built by `xscale.keys`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from xscale import formats, keys, models, probes
from xscale.cache import Entry, StageCache
from xscale.data import DataSource, fraction_subset
from xscale.keys import ENGLISH, TrialPoint
from xscale.spec import HUB_SIZES, Spec
from xscale.tasks import metrics as task_metrics
from xscale.tasks.registry import TaskInfo, get_task
from xscale.train import TrainConfig, device, train

WEIGHTS = "encoder.safetensors"
CONFIG = "config.json"

Report = Callable[[dict[str, float], str], None]
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

    def train_config(self, steps: int) -> TrainConfig:
        o = self.spec.optim
        return TrainConfig(
            steps=steps,
            lr=self.point.lr,
            warmup_fraction=self.point.warmup_fraction,
            weight_decay=o.weight_decay,
            max_grad_norm=o.max_grad_norm,
            compile=self.spec.resources.compile,
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
        }


# ---------------------------------------------------------------------------------------------- I/O


def save_encoder(path: Path, model: torch.nn.Module) -> None:
    save_file(models.encoder_state(model), str(path / WEIGHTS))
    (path / CONFIG).write_text(model.config.to_json_string())


def load_encoder(path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path))
    return config, load_file(str(path / WEIGHTS))


# ------------------------------------------------------------------------------------------ pretrain


def _token_stream(ctx: Context) -> Iterator[int]:
    """The corpus as one stream of token ids, documents separated by </s>, in corpus order."""
    tok = ctx.tokenizer
    corpus = ctx.data.corpus_texts()
    for start in range(0, len(corpus), 512):
        for ids in tok(corpus[start : start + 512]["text"], add_special_tokens=False)["input_ids"]:
            yield from ids
            yield tok.sep_token_id


def _pack(stream: Iterator[int], n_seqs: int, seq_len: int, tok, tokens: int) -> torch.Tensor:
    """The next `n_seqs` sequences of `seq_len` tokens (<s> body </s>) from the token stream."""
    body = seq_len - 2
    seqs = []
    for _ in range(n_seqs):
        chunk = list(itertools.islice(stream, body))
        if len(chunk) < body:
            raise ValueError(f"pretrain.pretrain_tokens={tokens} exceeds the corpus; "
                             "lower it or raise the benchmark's corpus_tokens")
        seqs.append([tok.cls_token_id, *chunk, tok.sep_token_id])
    return torch.tensor(seqs, dtype=torch.long)


def pretrain_key_config(p) -> dict[str, Any]:
    """The pretraining settings that make a pretraining run (its cache key): not the checkpoint to
    take, and not the short-sequence knobs while they are off (so older cache entries stay valid)."""
    exclude = {"checkpoint_fraction", "checkpoints"}
    if p.short_seq_len is None:
        exclude |= {"short_seq_len", "short_seq_fraction"}
    return p.model_dump(exclude=exclude)


def short_batch_size(p) -> int:
    """Sequences per step of the short-sequence phase: as many tokens per step as the main phase."""
    return max(1, round(p.batch_size * (p.max_seq_len - 2) / (p.short_seq_len - 2)))


def _mlm_batches(ctx: Context, seq_len: int, batch_size: int, tokens: int,
                 short_steps: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Masked batches over the corpus prefix of `tokens` tokens, packed into `seq_len` sequences.

    With `short_steps`, the first steps read the start of that prefix packed into
    `pretrain.short_seq_len` sequences (as many tokens per step), the rest of it follows at `seq_len`."""
    tok = ctx.tokenizer
    p = ctx.spec.pretrain
    stream = _token_stream(ctx)
    gen = torch.Generator().manual_seed(ctx.seed)
    if short_steps:
        short_batch = short_batch_size(p)
        data = _pack(stream, short_steps * short_batch, p.short_seq_len, tok, tokens)
        for s in range(0, len(data), short_batch):
            yield mask_tokens(data[s : s + short_batch], tok, p.mask_prob, gen)
        tokens -= short_steps * short_batch * (p.short_seq_len - 2)
    data = _pack(stream, max(batch_size, math.ceil(tokens / (seq_len - 2))), seq_len, tok, tokens)
    while True:
        for s in range(0, len(data) - batch_size + 1, batch_size):
            yield mask_tokens(data[s : s + batch_size], tok, p.mask_prob, gen)


def mask_tokens(ids: torch.Tensor, tok, prob: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """BERT masking: `prob` of the non-special tokens become targets; 80% <mask>, 10% random, 10% kept."""
    labels = ids.clone()
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (ids == tok.pad_token_id)
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~special
    labels[~chosen] = -100
    ids = ids.clone()
    roll = torch.rand(ids.shape, generator=gen)
    ids[chosen & (roll < 0.8)] = tok.mask_token_id
    rand = chosen & (roll >= 0.8) & (roll < 0.9)
    ids[rand] = torch.randint(len(tok), ids.shape, generator=gen)[rand]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def mlm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """MLM loss computing vocabulary logits only at masked positions (a ~2x saving for tiny models
    whose output layer is as large as their body)."""
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    where = batch["labels"] != -100
    logits = model.lm_head(hidden[where])
    return torch.nn.functional.cross_entropy(logits.float(), batch["labels"][where])


def pretrain_stage(ctx: Context) -> tuple[Any, dict[str, torch.Tensor], str]:
    """The encoder at this trial's checkpoint fraction: from one from-scratch MLM run per
    (size, seed, corpus) that saves every fraction the sweep asks for, or from the Hub."""
    size = ctx.point.size
    frac = ctx.point.checkpoint_fraction
    p = ctx.spec.pretrain
    if size in HUB_SIZES or ctx.spec.model.hub_id:
        source = p.checkpoints.get(frac) or models.hub_source(size, ctx.spec.model.hub_id)
        model = models.from_pretrained(source, "mlm")
        ctx.tokens["pretrain"] = 0
        return model.config, models.encoder_state(model), f"hub:{source}:{ctx.data.key}"

    fractions = ctx.spec.checkpoint_fractions()
    tok = ctx.tokenizer
    max_len = max(p.max_seq_len, ctx.spec.model.max_seq_len)
    config = models.scratch_config(size, len(tok), max_len, tok.pad_token_id)
    shared_by = keys.pretraining_of(ctx.point.as_config())
    if shared_by is None:
        # The no-pretraining baseline (`xscale synth check` compares against it): random init.
        # Its key names the architecture and the data: the later stages' cache keys build on it,
        # so random encoders of two sizes must not share their fine-tuned results.
        ctx.tokens["pretrain"] = 0
        arch = hashlib.sha256(config.to_json_string().encode()).hexdigest()[:16]
        key = f"random:{size}:{arch}:{ctx.seed}:{ctx.data.key}"
        return config, models.encoder_state(models.build(config, "mlm", seed=ctx.seed)), key
    run_size, run_seed = shared_by
    stage_cfg = {
        "benchmark": ctx.data.key,
        "size": run_size,
        "config": config.to_dict(),
        "seed": run_seed,
        "pretrain": pretrain_key_config(p),
        "fractions": list(fractions),
        "debug": ctx.spec.debug,
    }

    def compute(out: Path) -> dict:
        steps = max(1, math.ceil(p.pretrain_tokens / (p.batch_size * (p.max_seq_len - 2))))
        save_at = {max(1, round(f * steps)): f for f in fractions}
        torch.manual_seed(ctx.seed)
        model = models.build(config, "mlm", seed=ctx.seed).to(device())
        tokens_at: dict[str, int] = {}
        batch_tokens = p.batch_size * (p.max_seq_len - 2)

        def on_step(step: int) -> None:
            if step in save_at:
                d = out / f"fraction-{save_at[step]:g}"
                d.mkdir()
                save_encoder(d, model)
                tokens_at[f"{save_at[step]:g}"] = step * batch_tokens
                ctx.log(f"pretrain {size}: checkpoint at fraction {save_at[step]:g} (step {step}/{steps})")

        cfg = TrainConfig(steps=steps, lr=p.lr, warmup_fraction=p.warmup_fraction, weight_decay=0.01,
                          max_grad_norm=1.0, log_every=max(1, steps // 10), compile=ctx.spec.resources.compile,
                          nan_after_steps=ctx.spec.debug.get("pretrain_nan_after_steps"))
        ctx.log(f"pretrain {size}: {steps} steps, {p.pretrain_tokens:,} tokens, checkpoints at {list(fractions)}")
        short_steps = round(p.short_seq_fraction * steps) if p.short_seq_len else 0
        batches = _mlm_batches(ctx, p.max_seq_len, p.batch_size, p.pretrain_tokens, short_steps)
        if short_steps:
            ctx.log(f"pretrain {size}: first {short_steps} steps at {p.short_seq_len} tokens per sequence")
        res = train(model, batches, cfg,
                    loss_fn=mlm_loss, on_step=on_step,
                    on_log=lambda s, loss: ctx.log(f"pretrain {size}: step {s}/{steps} loss {loss:.3f}"))
        return {"tokens_at_fraction": tokens_at, "seconds": res.seconds, "final_loss": res.final_loss,
                "steps": steps}

    entry = ctx.cache.get_or_compute("pretrain", stage_cfg, (), compute)
    ctx.log(f"pretrain {size}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    ctx.tokens["pretrain"] = int(entry.meta["tokens_at_fraction"][f"{frac:g}"])
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
                   mlm: Iterator[dict] | None) -> Iterator[dict]:
    rng = np.random.default_rng(seed)
    names = list(streams)
    p = np.array([weights[n] for n in names], dtype=float)
    p /= p.sum()
    while True:
        name = names[int(rng.choice(len(names), p=p))]
        yield {"task": name, "batch": next(streams[name]), "mlm": next(mlm) if mlm is not None else None}


def _multitask_loss(mlm_weight: float):
    def loss(model: MultiTask, item: dict) -> torch.Tensor:
        out = model(item["task"], **item["batch"]).loss
        if item["mlm"] is not None:
            out = out + mlm_weight * mlm_loss(model.heads["mlm"], item["mlm"])
        return out

    return loss


def evaluate(ctx: Context, task: TaskInfo, model: torch.nn.Module, ds, lang: str) -> dict[str, float]:
    """Score `model` on raw rows `ds` of `task` in `lang`."""
    cap = ctx.spec.target.max_eval_examples
    if cap and len(ds) > cap:
        ds = ds.select(range(cap))
    enc = formats.encode(task, ds, ctx.tokenizer, ctx.spec.model.max_seq_len, train=False)
    out = formats.predict(model, enc, batch_size=128, pad_id=ctx.tokenizer.pad_token_id)
    return formats.score(task, ds, enc, out, lang)


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
            enc = formats.encode(task, rows, tok, ctx.spec.model.max_seq_len, train=True)
            heads[name] = models.build(config, task.format, num_labels=formats.num_labels(task, rows), encoder_state=state, seed=ctx.seed)
            streams[name] = formats.batches(enc, ctx.spec.optim.batch_size, tok.pad_token_id, seed=ctx.seed)
            sizes[name] = len(rows)
            devsets[name] = (task, ctx.data.dev(task))
        mlm = None
        if it.mlm_weight > 0:
            heads["mlm"] = models.build(config, "mlm", encoder_state=state, seed=ctx.seed)
            mlm = _mlm_batches(ctx, ctx.spec.pretrain.max_seq_len, ctx.spec.optim.batch_size,
                               ctx.spec.pretrain.pretrain_tokens)
        temperature = 2.0 if it.sampling == "temperature" else 1.0
        weights = {n: sizes[n] ** (1 / temperature) for n in names}
        model = MultiTask(heads).to(device())
        steps = _steps(sum(sizes.values()), it.epochs, ctx.spec.optim.batch_size)
        ctx.log(f"intermediate {'+'.join(names)}: {sum(sizes.values())} examples, {steps} steps")
        items = _mixed_batches(streams, weights, ctx.seed, mlm)
        res = train(model, items, ctx.train_config(steps), loss_fn=_multitask_loss(it.mlm_weight))
        scores = {}
        for name, (task, dev) in devsets.items():
            for metric, v in evaluate(ctx, task, model.heads[name], dev, ENGLISH).items():
                scores[keys.metric("intermediate", name, ENGLISH, metric)] = v
        save_encoder(out, model)
        return {"metrics": scores, "examples": sum(sizes.values()), "tokens": res.tokens, "seconds": res.seconds,
                "final_loss": res.final_loss}

    entry = ctx.cache.get_or_compute("intermediate", stage_cfg, (input_key,), compute)
    ctx.log(f"intermediate {'+'.join(names)}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    ctx.metrics.update(entry.meta["metrics"])
    ctx.metrics[keys.scale("intermediate_examples")] = entry.meta["examples"]
    ctx.tokens["intermediate"] = entry.meta["tokens"]
    ctx.account(entry)
    _, new_state = load_encoder(entry.path)
    return new_state, entry.key


def target_stage(ctx: Context, task: TaskInfo, config, state: dict, input_key: str) -> dict[str, float]:
    """Fine-tune on English training data of `task`, evaluate zero-shot in every language, probe."""
    tc = ctx.spec.target
    stage_cfg = {"task": task.name, "target": tc.model_dump(exclude={"tasks"}),
                 "probes": ctx.spec.probes.model_dump(), **ctx.finetune_config()}

    def compute(out: Path) -> dict:
        tok = ctx.tokenizer
        scores: dict[str, float] = {}
        tokens = 0
        seconds = 0.0
        probe_model = None
        if task.format == "retrieval":
            # BUCC and Tatoeba get no target training: they score the encoder's pooled states. The
            # encoder is the one already probed after the intermediate stage, so it is not probed again.
            encoder = models.build(config, "mlm", encoder_state=state, seed=ctx.seed).base_model.to(device())
            for lang in ctx.data.languages(task):
                if lang == ENGLISH:
                    continue
                for metric, v in retrieval_scores(ctx, task, encoder, lang).items():
                    scores[keys.metric("target", task.name, lang, metric)] = v
        else:
            rows = ctx.data.train(task)
            if tc.max_train_examples:
                rows = rows.select(range(min(len(rows), tc.max_train_examples)))
            enc = formats.encode(task, rows, tok, ctx.spec.model.max_seq_len, train=True)
            model = models.build(config, task.format, num_labels=formats.num_labels(task, rows), encoder_state=state, seed=ctx.seed).to(device())
            if tc.freeze_embeddings:
                models.freeze_embeddings(model)
            steps = _steps(len(rows), tc.epochs, ctx.spec.optim.batch_size)
            res = train(model, formats.batches(enc, ctx.spec.optim.batch_size, tok.pad_token_id, seed=ctx.seed),
                        ctx.train_config(steps))
            tokens, seconds = res.tokens, res.seconds
            for metric, v in evaluate(ctx, task, model, ctx.data.dev(task), ENGLISH).items():
                scores[keys.dev(task.name, metric)] = v
            for lang in ctx.data.languages(task):
                for metric, v in evaluate(ctx, task, model, ctx.data.test(task, lang), lang).items():
                    scores[keys.metric("target", task.name, lang, metric)] = v
            probe_model = model.base_model
        if probe_model is not None and "target" in ctx.spec.probes.after:
            for k, v in probe(ctx, probe_model).items():
                scores[f"probe/{k}"] = v
        return {"metrics": scores, "tokens": tokens, "seconds": seconds}

    entry = ctx.cache.get_or_compute("target", stage_cfg, (input_key,), compute)
    ctx.log(f"target {task.name}: {'cache hit' if entry.hit else 'ran'} ({entry.key[:12]})")
    ctx.tokens[f"target/{task.name}"] = entry.meta["tokens"]
    ctx.account(entry)
    return entry.meta["metrics"]


def retrieval_scores(ctx: Context, task: TaskInfo, encoder, lang: str) -> dict[str, float]:
    layer, msl = ctx.spec.target.retrieval_layer, ctx.spec.model.max_seq_len
    tok = ctx.tokenizer
    if task.name == "tatoeba":
        rows = ctx.data.test(task, lang)
        src = formats.embed(encoder, tok, list(rows["source_sentence"]), msl, layer)
        tgt = formats.embed(encoder, tok, list(rows["target_sentence"]), msl, layer)
        return {"accuracy": task_metrics.tatoeba_accuracy(src, tgt)}
    # BUCC: mine with a margin threshold chosen on the validation split, then score the test split.
    threshold = None
    out = {}
    for split in ("validation", "test"):
        rows = ctx.data.test(task, lang, split=split)
        src_rows = rows.filter(lambda r: r["lang"] != ENGLISH)
        en_rows = rows.filter(lambda r: r["lang"] == ENGLISH)
        src = formats.embed(encoder, tok, list(src_rows["sentence"]), msl, layer)
        tgt = formats.embed(encoder, tok, list(en_rows["sentence"]), msl, layer)
        cands = task_metrics.bucc_mine(list(src_rows["id"]), src, list(en_rows["id"]), tgt)
        gold = {(i, g) for i, g in zip(src_rows["id"], src_rows["gold"]) if g}
        if split == "validation":
            threshold = task_metrics.bucc_best_threshold(cands, gold)
        else:
            out = task_metrics.bucc_f1(cands, gold, threshold)
    return out


def probe(ctx: Context, encoder) -> dict[str, float]:
    pr = ctx.spec.probes
    pairs = ctx.data.parallel(pr.max_pairs)
    return probes.alignment(encoder, ctx.tokenizer, pairs, ctx.spec.model.max_seq_len, pr.layer, pr.kinds)


def probe_stage(ctx: Context, after: str, config, state: dict, input_key: str) -> None:
    """Alignment of the encoder after `after`, cached with the encoder it probes."""
    if after not in ctx.spec.probes.after:
        return

    def compute(out: Path) -> dict:
        encoder = models.build(config, "mlm", encoder_state=state).base_model.to(device())
        return {"metrics": probe(ctx, encoder)}

    entry = ctx.cache.get_or_compute("probe", {"probes": ctx.spec.probes.model_dump(),
                                               "max_seq_len": ctx.spec.model.max_seq_len}, (input_key,), compute)
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


def run_trial(spec: Spec, point: TrialPoint, cache: StageCache, data: DataSource, report: Report,
              log: Log) -> dict[str, float]:
    """Run every stage of one grid point; returns the final metrics (also passed to `report`)."""
    ctx = Context(spec, point, cache, data, log)
    t0 = time.perf_counter()

    config, state, key = pretrain_stage(ctx)
    counts = models.count_params(config)
    ctx.metrics.update({keys.scale("params"): counts["params"],
                        keys.scale("non_embedding_params"): counts["non_embedding_params"],
                        keys.scale("pretrain_tokens"): ctx.tokens["pretrain"]})
    probe_stage(ctx, "pretrain", config, state, key)
    # No English dev score exists before fine-tuning; schedulers need the key in every report.
    ctx.metrics[keys.DEV_SCORE] = 0.0
    report(dict(ctx.metrics), "pretrain")

    state, key = intermediate_stage(ctx, config, state, key)
    probe_stage(ctx, "intermediate", config, state, key)
    ctx.metrics[keys.DEV_SCORE] = _intermediate_dev(ctx)
    report(dict(ctx.metrics), "intermediate")

    target_probe: dict[str, list[float]] = {}
    task_scores: dict[str, float] = {}
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
        if per_lang:
            task_scores[name] = task_metrics.xtreme_task_score(name, per_lang)
        ctx.metrics[keys.DEV_SCORE] = _target_dev(ctx)
        report(dict(ctx.metrics), f"target/{name}")

    # The "after target" alignment is the mean over the target tasks' fine-tuned encoders (retrieval
    # tasks fine-tune nothing, so they are not in it; a spec with only retrieval targets has none).
    ctx.metrics.update(_align_metrics("target", {k: float(np.mean(v)) for k, v in target_probe.items()}))
    ctx.metrics.update(_retention(ctx.metrics))
    if task_scores:
        ctx.metrics[keys.XTREME_SCORE] = task_metrics.xtreme_score(task_scores)
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
    out = {}
    for probe_name, metric in (("retrieval", "accuracy"), ("cka", "cka")):
        base = m.get(keys.align("pretrain", probe_name, keys.AVG, metric))
        if not base:
            continue
        for after in ("intermediate", "target"):
            v = m.get(keys.align(after, probe_name, keys.AVG, metric))
            if v is not None:
                out[keys.retention(probe_name, after)] = v / base
    return out
