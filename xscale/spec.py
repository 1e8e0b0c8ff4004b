"""Sweep specifications: YAML in, frozen typed objects out, every problem reported at once.

Imports nothing heavy (no torch, ray or mlflow) so that `xscale validate` is instant.

A field that is a scaling axis or a nuisance hyperparameter may be written as
- a plain value (fixed),
- `{grid: [...]}` (every value is run: grid axes define the cells of the sweep),
- `{choice: [...]}`, `{uniform: [lo, hi]}`, `{loguniform: [lo, hi]}`, `{int: [lo, hi]}` (searched
  inside each cell by the search algorithm, with `search.trials_per_cell` trials per cell).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xscale.errors import UserError
from xscale.keys import AXIS_FIELDS, NO_INTERMEDIATE

# Closed registries that the spec may name. They live here (not in the modules that implement
# them) so validation needs no heavy import; the implementing modules assert they agree.
MODEL_SIZES = ("xs", "s", "m", "l")
PRECISIONS = ("auto", "bf16", "float32")
HUB_SIZES = {"base": "FacebookAI/xlm-roberta-base", "large": "FacebookAI/xlm-roberta-large"}
SYNTH_PRESETS = ("tiny", "small", "default")
SYNTH_INTERMEDIATE = ("mnli", "qqp", "sst2", "squad", "squad_v2", "hellaswag", "ccg")
SYNTH_TARGET = ("xnli", "pawsx", "udpos", "panx", "xquad", "tatoeba", "bucc")
REAL_INTERMEDIATE = (
    "anli", "mnli", "qqp", "sst2", "squad", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa",
)
REAL_TARGET = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba")
STAGES = ("pretrain", "intermediate", "target")



class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grid(_Frozen):
    """Every listed value is run; grid axes span the cells of the sweep."""

    grid: tuple[Any, ...] = Field(min_length=1)


class Choice(_Frozen):
    """One of the listed values, picked by the search algorithm inside each cell."""

    choice: tuple[Any, ...] = Field(min_length=1)


class _Range(_Frozen):
    @model_validator(mode="after")
    def _ordered(self):
        lo, hi = self.bounds()
        if not lo < hi:
            raise ValueError(f"lower bound {lo} must be below upper bound {hi}")
        return self

    def bounds(self) -> tuple[float, float]:
        return tuple(next(iter(self.model_dump().values())))  # type: ignore[return-value]


class Uniform(_Range):
    """A float drawn uniformly from [lo, hi]."""

    uniform: tuple[float, float]


class LogUniform(_Range):
    """A float drawn log-uniformly from [lo, hi] (both > 0)."""

    loguniform: tuple[float, float]

    @field_validator("loguniform")
    @classmethod
    def _positive(cls, v):
        if min(v) <= 0:
            raise ValueError("loguniform bounds must be > 0")
        return v


class IntRange(_Range):
    """An integer drawn uniformly from [lo, hi] (inclusive)."""

    int: tuple[int, int]


Searched = Union[Choice, Uniform, LogUniform, IntRange]


def _axis(*types):
    """An axis field: a fixed value of one of `types`, a grid, or a searched distribution."""
    return Union[(*types, Grid, Choice, Uniform, LogUniform, IntRange)]


class Benchmark(_Frozen):
    """Where the tasks and the pretraining corpus come from."""

    kind: Literal["synthetic", "local", "hub"] = "synthetic"
    """synthetic: the embedded benchmark; local: files laid out like shared/realdata; hub: Hugging Face Hub."""
    preset: Literal["tiny", "small", "default"] = "default"
    """Size preset of the synthetic benchmark."""
    seed: int = 0
    """Seed of the synthetic world, languages and tasks."""
    knobs: dict[str, Any] = Field(default_factory=dict)
    """Extra synthetic-benchmark knobs (see `xscale synth --help`)."""
    path: str | None = None
    """Root of local task files (kind: local), laid out like shared/realdata."""
    languages: tuple[str, ...] | None = None
    """Evaluate only these languages (default: every language of each task)."""


class Model(_Frozen):
    """The encoder and its size."""

    family: Literal["xlmr"] = "xlmr"
    """Architecture family: XLM-R (from-scratch ladder xs..l, or the Hub's base/large)."""
    size: _axis(str) = "s"
    """A size-ladder key (xs, s, m, l: from scratch) or base/large (XLM-R from the Hub)."""
    hub_id: str | None = None
    """Any Hugging Face encoder id or local path; overrides the size-to-XLM-R mapping."""
    max_seq_len: int = Field(128, gt=0)
    """Maximum tokens per input sequence."""


class Pretrain(_Frozen):
    """Masked-language-model pretraining (from scratch) or the map of pretrained checkpoints."""

    pretrain_tokens: int = Field(1_000_000, gt=0)
    """Tokens of the multilingual corpus seen by a full pretraining run (checkpoint fraction 1.0)."""
    checkpoint_fraction: _axis(float) = 1.0
    """Fraction of pretraining after which the checkpoint is taken (one run serves every fraction)."""
    batch_size: int = Field(32, gt=0)
    """Sequences per MLM step."""
    max_seq_len: int = Field(64, gt=0)
    """Tokens per pretraining sequence."""
    lr: float = Field(1e-3, gt=0)
    """Peak learning rate of pretraining."""
    warmup_fraction: float = Field(0.05, ge=0, le=1)
    """Fraction of pretraining steps with linear warmup."""
    mask_prob: float = Field(0.15, gt=0, lt=1)
    """Fraction of tokens masked for MLM."""
    short_seq_len: int | None = Field(None, ge=4)
    """If set, the first `short_seq_fraction` of the steps use sequences this long, with as many tokens
    per step (BERT's short-then-long schedule). Tiny models from scratch leave the unigram plateau
    hundreds of steps sooner on short sequences."""
    short_seq_fraction: float = Field(0.8, ge=0, le=1)
    """Fraction of pretraining steps at `short_seq_len` (when it is set)."""
    checkpoints: dict[float, str] = Field(default_factory=dict)
    """Hub models only: checkpoint fraction -> local path or Hub revision of that checkpoint."""
    schedule: Literal["wsd", "linear"] = "wsd"
    """wsd (warmup-stable-decay): one constant-rate run per size and seed, and per checkpoint fraction f a
    branch that cools the rate down to zero over its last `decay_fraction` of steps, so the checkpoint is
    a finished model trained on f of the tokens. linear: one run with a linear decay, checkpoints taken
    mid-run at a high rate (what `xscale synth check` measures)."""
    decay_fraction: float = Field(0.2, ge=0, lt=1)
    """wsd: share of each checkpoint's steps spent cooling the rate down to zero."""

    @model_validator(mode="after")
    def _short_below_max(self):
        if self.short_seq_len is not None and self.short_seq_len >= self.max_seq_len:
            raise ValueError(f"short_seq_len must be < max_seq_len ({self.max_seq_len}), got {self.short_seq_len}")
        return self


class Intermediate(_Frozen):
    """English intermediate-task training (STILTs)."""

    task: _axis(str) = "mnli"
    """Intermediate task name, `a+b` for multi-task, or `none` for the no-intermediate baseline."""
    fraction: _axis(float) = 1.0
    """Fraction of the task's training data used (nested: smaller fractions are subsets; 0 is the
    no-intermediate baseline, as task `none`)."""
    epochs: float = Field(1.0, gt=0)
    """Passes over the (fractional) training data."""
    max_train_examples: int | None = Field(None, gt=0)
    """Cap on training examples at fraction 1.0 (default: the whole training split)."""
    sampling: Literal["proportional", "temperature"] = "proportional"
    """Multi-task sampling: size-proportional or temperature-scaled (T=2)."""
    mlm_weight: float = Field(0.0, ge=0)
    """Weight of continued multilingual MLM mixed into intermediate training (0 = off)."""
    translated: bool = False
    """Train on translations of the intermediate data into every language (synthetic: from the generator;
    local files: `<task folder>/translated/<lang>/` beside the English ones, in the same format)."""


class Target(_Frozen):
    """English target-task training and zero-shot evaluation."""

    tasks: tuple[str, ...] = SYNTH_TARGET
    """Target tasks, each evaluated zero-shot in every language."""
    epochs: float = Field(2.0, gt=0)
    """Passes over each target task's English training data."""
    max_train_examples: int | None = Field(None, gt=0)
    """Cap on English training examples per target task."""
    max_eval_examples: int | None = Field(None, gt=0)
    """Cap on evaluation examples per language (default: all)."""
    retrieval_layer: int = -1
    """Hidden layer mean-pooled for BUCC/Tatoeba (-1: last; XTREME used 14 of XLM-R Large's 24)."""
    freeze_embeddings: bool = False
    """Keep the (multilingual) embedding layer fixed while fine-tuning on English, so the words of
    other languages stay where pretraining put them (Artetxe et al. 2020)."""
    gate_zero_shot: bool = False
    """Evaluate zero-shot only the target tasks that passed the learning gate in English: a task whose
    English dev score misses it keeps its dev score, gate and probes but gets no per-language scores
    (they could enter no fit), and the trial then reports no `xtreme/score`."""


class Probes(_Frozen):
    """Cross-lingual alignment probes after each stage."""

    after: tuple[Literal["pretrain", "intermediate", "target"], ...] = STAGES
    """Stages after which alignment is probed."""
    kinds: tuple[Literal["retrieval", "cka", "cka_debiased"], ...] = ("retrieval", "cka", "cka_debiased")
    """Probes on parallel sentences: mean-centred retrieval accuracy@1, linear CKA, and CKA from the
    unbiased HSIC estimator (about 0 for unrelated representations at any width)."""
    layers: tuple[Literal["last", "middle"], ...] = ("last", "middle")
    """Mean-pooled hidden layers probed: the last one, and the middle one (probe names get `_mid`)."""
    max_pairs: int = Field(500, gt=1)
    """Parallel sentence pairs per language."""
    average_excludes: tuple[str, ...] = ("inv",)
    """Languages probed but kept out of the `avg` of a probe (the synthetic floor `inv` shares no
    anchor with English by design; its own keys are still logged)."""
    random_reference: bool = True
    """Also probe a randomly initialised encoder of the same size and seed (`align/random/...`), the
    level a probe reaches with no training at all."""


class Optim(_Frozen):
    """Fine-tuning optimiser (intermediate and target stages); lr and warmup may be searched."""

    lr: _axis(float) = 1e-3
    """Peak learning rate (AdamW)."""
    warmup_fraction: _axis(float) = 0.1
    """Fraction of steps with linear warmup, then linear decay."""
    batch_size: int = Field(32, gt=0)
    """Examples per step."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping norm."""


class Search(_Frozen):
    """How searched (non-grid) axes are explored inside each grid cell."""

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    """grid: no searched axes; random: Ray Tune random sampling; optuna: TPE per cell."""
    trials_per_cell: int = Field(1, gt=0)
    """Trials per grid cell (the budget of the search inside a cell)."""
    seed: int = 0
    """Seed of the search algorithm."""


class Scheduler(_Frozen):
    """Trial scheduler."""

    kind: Literal["fifo", "asha"] = "fifo"
    """fifo runs every trial to the end; asha stops a trial whose English dev score at the rung is clearly
    below the best of its grid cell (successive halving inside each cell)."""
    grace_period: int = Field(2, gt=0)
    """ASHA: the report (stage) at which trials are compared; 2 is after the intermediate stage."""
    reduction_factor: float = Field(2.0, gt=1)
    """ASHA: the top 1/reduction_factor of a cell's trials at the rung continue."""
    min_gap: float = Field(2.0, ge=0)
    """ASHA: points below the cut a trial must be to stop (a tie or a near-tie continues)."""


class Resources(_Frozen):
    """Resources per trial and concurrency."""

    cpus_per_trial: float = Field(1.0, gt=0)
    """CPUs reserved per trial."""
    gpus_per_trial: float = Field(0.0, ge=0)
    """GPUs reserved per trial."""
    torch_threads: int = Field(1, gt=0)
    """torch intra-op threads per trial (one is fastest for tiny models run side by side)."""
    max_concurrent_trials: int = Field(0, ge=0)
    """Upper bound on trials at once (0: as many as the cluster's CPUs allow)."""
    max_failures: int = Field(1, ge=0)
    """Retries of a trial whose worker died (stages already cached are not rerun)."""
    compile: bool = False
    """torch.compile each training stage's model (worth it on a GPU; needs a C++ compiler on a CPU)."""
    precision: Literal[PRECISIONS] = "auto"
    """Numerics of forward passes in training and evaluation: bf16 autocast (weights, gradients and
    optimizer state stay float32) or float32. auto: bf16 on a CUDA GPU with bf16, float32 on a CPU
    (bf16 on a CPU with AVX-512 BF16 or AMX is faster at the same memory: docs/performance.md). The
    resolved value is part of every stage's cache key and is recorded as the run's `precision` tag."""


class Objective(_Frozen):
    """The metric a search or scheduler optimises: English dev data only, never zero-shot languages."""

    metric: str = "dev/score"
    """Metric key reported by trials."""
    mode: Literal["max", "min"] = "max"
    """Whether higher or lower is better."""

    @field_validator("metric")
    @classmethod
    def _english_dev_only(cls, v: str) -> str:
        if not (v == "dev/score" or v.startswith("dev/") or v.startswith("intermediate/")):
            raise ValueError("must be English dev data: dev/score, dev/{task}/en/{metric} or intermediate/...")
        return v


QUANTITY_PATTERN = (r"^(zeroshot(/[a-z0-9_]+)?|worst_lang|lang_spread|gap|align/(retention|drop)(_target)?/[a-z_]+/avg"
                    r"|excess/(pretrain|intermediate|target)/[a-z_]+/avg)$")


class Endpoint(_Frozen):
    """A primary endpoint: the slope of one quantity per decade of one scaling axis."""

    question: Literal["Q1", "Q2"]
    """Q1: size and alignment retention; Q2: intermediate data against pretraining."""
    quantity: str
    """What is fitted: zeroshot, zeroshot/TASK, worst_lang, lang_spread, gap, align/drop/PROBE/avg,
    align/retention_target/PROBE/avg, excess/pretrain/PROBE/avg, ..."""
    axis: Literal["model.size", "intermediate.fraction", "pretrain.checkpoint_fraction"]
    """The scaling axis the slope is per decade of (its scale quantity: parameters, examples, tokens)."""

    @field_validator("quantity")
    @classmethod
    def _known(cls, v: str) -> str:
        if not re.match(QUANTITY_PATTERN, v):
            raise ValueError(f"unknown quantity {v!r} (allowed: zeroshot, zeroshot/TASK, worst_lang, lang_spread, "
                             "gap, align/{retention,drop}[_target]/PROBE/avg, excess/STAGE/PROBE/avg)")
        return v


class AnalysisPlan(_Frozen):
    """How `xscale report` reads the sweep: the declared primary endpoints (every other slope is
    secondary and Holm-corrected)."""

    primary: tuple[Endpoint, ...] = ()
    """At most one primary endpoint per question."""

    @field_validator("primary")
    @classmethod
    def _one_per_question(cls, v):
        questions = [e.question for e in v]
        if len(set(questions)) != len(questions):
            raise ValueError("one primary endpoint per question (allowed: one Q1 and one Q2)")
        return v


class Spec(_Frozen):
    """A sweep: the grid of scaling axes, the searched nuisance hyperparameters and the pipeline."""

    name: str = Field("", pattern=r"^([A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*)?$")  # not . or ..
    """Sweep name (default: the file's stem); names the sweep folder."""
    description: str = ""
    """What this sweep is for."""
    experiment: str = ""
    """MLflow experiment name (default: xscale-<name>)."""
    benchmark: Benchmark = Benchmark()
    model: Model = Model()
    pretrain: Pretrain = Pretrain()
    intermediate: Intermediate = Intermediate()
    target: Target = Target()
    probes: Probes = Probes()
    optim: Optim = Optim()
    seed: _axis(int) = 0
    """Training seed (model init, data order); usually a grid for error bars."""
    search: Search = Search()
    scheduler: Scheduler = Scheduler()
    resources: Resources = Resources()
    objective: Objective = Objective()
    analysis: AnalysisPlan = AnalysisPlan()
    debug: dict[str, Any] = Field(default_factory=dict)
    """Test hooks (e.g. `nan_after_steps`) for fault-injection tests."""

    def axis(self, dotted: str):
        """The raw value of an axis field (`model.size`, `seed`, ...)."""
        obj: Any = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj

    def grid_axes(self) -> dict[str, tuple]:
        """Axes that span the grid, each with the values it takes (fixed values count as 1-value grids)."""
        out = {}
        for name in AXIS_FIELDS:
            v = self.axis(name)
            if isinstance(v, Grid):
                out[name] = v.grid
            elif not isinstance(v, (Choice, Uniform, LogUniform, IntRange)):
                out[name] = (v,)
        return out

    def searched_axes(self) -> dict[str, Searched]:
        """Axes searched inside each grid cell."""
        return {n: v for n in AXIS_FIELDS if isinstance((v := self.axis(n)), (Choice, Uniform, LogUniform, IntRange))}

    def cells(self) -> list[dict[str, Any]]:
        """Every grid cell as {axis: value}, model size varying fastest so concurrent trials
        start with different sizes and share pretraining through the cache instead of waiting on it."""
        axes = self.grid_axes()
        names = list(axes)
        order = [n for n in names if n != "model.size"] + ["model.size"]
        return [dict(zip(order, combo)) for combo in itertools.product(*(axes[n] for n in order))]

    def checkpoint_fractions(self) -> tuple[float, ...]:
        """Every pretraining fraction this sweep may ask for (one pretraining run saves them all)."""
        v = self.pretrain.checkpoint_fraction
        if isinstance(v, Grid):
            return tuple(sorted(set(map(float, v.grid))))
        if isinstance(v, Choice):
            return tuple(sorted(set(map(float, v.choice))))
        return (float(v),)

    @property
    def experiment_name(self) -> str:
        return self.experiment or f"xscale-{self.name}"


def _values(v) -> tuple:
    if isinstance(v, Grid):
        return v.grid
    if isinstance(v, Choice):
        return v.choice
    if isinstance(v, (Uniform, LogUniform, IntRange)):
        return ()
    return (v,)


def _semantic_errors(spec: Spec) -> list[str]:
    """Checks that need more than one field at a time; returns `path: problem (allowed: ...)` lines."""
    errs = []
    synthetic = spec.benchmark.kind == "synthetic"
    sizes = MODEL_SIZES if synthetic and not spec.model.hub_id else MODEL_SIZES + tuple(HUB_SIZES)
    for s in _values(spec.model.size):
        if s not in sizes:
            errs.append(f"model.size: unknown size {s!r} (allowed: {', '.join(sizes)})")
    if isinstance(spec.model.size, (Uniform, LogUniform, IntRange)):
        errs.append("model.size: must be a value, grid or choice of size names")

    inter_allowed = (SYNTH_INTERMEDIATE if synthetic else REAL_INTERMEDIATE) + (NO_INTERMEDIATE,)
    for t in _values(spec.intermediate.task):
        parts = str(t).split("+")
        for p in parts:
            if p not in inter_allowed or (p == NO_INTERMEDIATE and len(parts) > 1):
                errs.append(f"intermediate.task: unknown task {p!r} (allowed: {', '.join(inter_allowed)})")
    target_allowed = SYNTH_TARGET if synthetic else REAL_TARGET
    if not spec.target.tasks:
        errs.append("target.tasks: at least one target task is needed")
    for t in spec.target.tasks:
        if t not in target_allowed:
            errs.append(f"target.tasks: unknown task {t!r} (allowed: {', '.join(target_allowed)})")

    for field, low in (("intermediate.fraction", 0.0), ("pretrain.checkpoint_fraction", None)):
        v = spec.axis(field)
        vals = list(_values(v)) + (list(v.bounds()) if isinstance(v, (Uniform, LogUniform, IntRange)) else [])
        for x in vals:
            if not isinstance(x, (int, float)) or isinstance(x, bool) or not (0 < x <= 1 or x == low):
                allowed = "0 <= x <= 1; 0 is the no-intermediate baseline" if low == 0.0 else "0 < x <= 1"
                errs.append(f"{field}: {x!r} is not a fraction (allowed: {allowed})")
    errs += _branch_errors(spec)
    for field in ("optim.lr", "optim.warmup_fraction", "seed"):
        for x in _values(spec.axis(field)):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or (field == "seed" and not isinstance(x, int)):
                errs.append(f"{field}: {x!r} is not a number")
            elif field == "optim.lr" and x <= 0:
                errs.append(f"optim.lr: {x!r} must be > 0")
            elif field == "optim.warmup_fraction" and not 0 <= x <= 1:
                errs.append(f"optim.warmup_fraction: {x!r} is not a fraction (allowed: 0 <= x <= 1)")

    searched = spec.searched_axes()
    if searched and spec.search.algorithm == "grid":
        errs.append(
            f"search.algorithm: 'grid' cannot search {', '.join(searched)} (allowed: random or optuna, or make them grids)"
        )
    if spec.search.algorithm == "optuna" and not searched:
        errs.append("search.algorithm: 'optuna' needs at least one searched axis (choice/uniform/loguniform/int)")

    if not synthetic and spec.benchmark.kind == "local" and not spec.benchmark.path:
        errs.append("benchmark.path: required when benchmark.kind is 'local'")
    hub_model = bool(spec.model.hub_id) or any(s in HUB_SIZES for s in _values(spec.model.size))
    if hub_model:
        fractions = spec.checkpoint_fractions()
        for f in fractions:
            if f != 1.0 and f not in spec.pretrain.checkpoints:
                errs.append(
                    f"pretrain.checkpoint_fraction: {f} has no checkpoint for a pretrained Hub model"
                    f" (allowed: 1.0 or a key of pretrain.checkpoints: {sorted(spec.pretrain.checkpoints) or 'none'})"
                )
    elif spec.pretrain.checkpoints:
        errs.append("pretrain.checkpoints: only for pretrained Hub models (from-scratch sizes save their own)")
    if synthetic and spec.benchmark.path:
        errs.append("benchmark.path: only for benchmark.kind 'local'")
    return errs


def _branch_errors(spec: Spec) -> list[str]:
    """With the wsd schedule every checkpoint branches off after the short-sequence phase, so that no
    checkpoint is a model that never saw a long sequence."""
    p = spec.pretrain
    if p.schedule != "wsd" or p.short_seq_len is None or spec.model.hub_id:
        return []
    errs = []
    for f in spec.checkpoint_fractions():
        start = (1 - p.decay_fraction) * f
        if 0 < f <= 1 and start < p.short_seq_fraction:
            errs.append(
                f"pretrain.checkpoint_fraction: {f:g} branches off at {start:.0%} of pretraining, inside the "
                f"short-sequence phase (the first {p.short_seq_fraction:.0%}) (allowed: fractions with "
                f"(1 - decay_fraction) * f >= short_seq_fraction, or a shorter short_seq_fraction)")
    return errs


def _format_pydantic(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if not _is_union_member(p)]
        path = ".".join(loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent_fields = _fields_at(loc[:-1])
            msg = f"unknown key (allowed: {', '.join(parent_fields)})" if parent_fields else "unknown key"
        elif e["type"] == "literal_error":
            msg = f"invalid value {e.get('input')!r} ({msg.replace('Input should be', 'allowed:')})"
        lines.append(f"{path}: {msg}")
    # Union axes report one error per member type; keep each distinct line once.
    return list(dict.fromkeys(lines))


_UNION_TAGS = {"Grid", "Choice", "Uniform", "LogUniform", "IntRange", "str", "float", "int", "bool"}


def _is_union_member(part) -> bool:
    return isinstance(part, str) and (part in _UNION_TAGS or part.startswith(("function-", "constrained-")))


def _fields_at(path: list[str]) -> list[str]:
    cls: Any = Spec
    for p in path:
        f = getattr(cls, "model_fields", {}).get(p)
        if f is None:
            return []
        cls = f.annotation
    return list(getattr(cls, "model_fields", {}))


def parse_spec(data: Any, name: str = "") -> Spec:
    """Validate a loaded YAML mapping; raise UserError with every problem, one per line."""
    if not isinstance(data, dict):
        raise UserError("(top level): a spec must be a YAML mapping")
    if name and not data.get("name"):
        data = {**data, "name": name}
    errs: list[str] = []
    spec = None
    # Drop the fields that fail structurally and validate the rest again, so the semantic checks
    # below still run and the user sees every problem in one go.
    for _ in range(5):
        try:
            spec = Spec.model_validate(data)
            break
        except ValidationError as e:
            errs.extend(_format_pydantic(e))
            data = _without(data, [[p for p in err["loc"] if not _is_union_member(p)] for err in e.errors()])
    if spec is not None:
        errs.extend(_semantic_errors(spec))
    if errs:
        raise UserError("\n".join(dict.fromkeys(errs)))
    return spec


def _without(data: dict, locs: list[list]) -> dict:
    """A deep copy of `data` without the values at `locs` (each trimmed to a mapping key)."""
    import copy

    data = copy.deepcopy(data)
    for loc in locs:
        node, keys = data, [k for k in loc if isinstance(k, str)]
        for k in keys[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict) and keys:
            node.pop(keys[-1], None)
        elif not keys:
            return {}
    return data


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file (name defaults to the file's stem)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_spec(data, name=p.stem)
