"""The names every part shares: the trial point (the axes of one trial) and the metric keys.

Axes are spelled `model.size`, `intermediate.fraction`, `pretrain.checkpoint_fraction` (plus
`intermediate.task`, `seed` and the searched `optim.*`) in YAML, MLflow params and reports. Metric keys
are built and parsed here and nowhere else:

    {stage}/{task}/{lang}/{metric}          target/xnli/de/accuracy, intermediate/mnli/en/accuracy
    {stage}/{task}/avg/{metric}             mean over the non-English languages
    dev/{task}/en/{metric}, dev/score       English dev data (what searches select on)
    align/{after}/{probe}/{lang}/{metric}   alignment probes after pretrain / intermediate / target
    align/retention/{probe}/avg             probe after intermediate divided by probe after pretraining
    scale/{quantity}, xtreme/score, learned/{stage}/{task}, train/{stage}/{task}/{loss,lr}
    xtreme/score_all                        xtreme/score over every language evaluated, XTREME's and more
    data/{task}/{lang}/split                the split a language was evaluated on (a run tag, not a metric)
    precision                               bf16 or float32: the trial's forward-pass numerics (a run tag)

Imports nothing beyond the standard library, so every layer may use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

ENGLISH = "en"
AVG = "avg"
NO_INTERMEDIATE = "none"

SIZE, CHECKPOINT, TASK, FRACTION, SEED, LR, WARMUP = (
    "model.size", "pretrain.checkpoint_fraction", "intermediate.task", "intermediate.fraction", "seed",
    "optim.lr", "optim.warmup_fraction",
)
AXIS_FIELDS = (SIZE, CHECKPOINT, TASK, FRACTION, SEED, LR, WARMUP)
"""The names under which axes appear in trial configs, MLflow params and reports."""

XTREME_SCORE = "xtreme/score"
XTREME_SCORE_ALL = "xtreme/score_all"
DEV_SCORE = "dev/score"
STAGE_COMPUTE_SECONDS = "time/stage_compute_seconds"
PRECISION = "precision"
TRIAL_SECONDS = "time/trial_seconds"


@dataclass(frozen=True)
class TrialPoint:
    """One point of the grid: the value of every axis for one trial."""

    size: str
    checkpoint_fraction: float
    intermediate_task: str
    intermediate_fraction: float
    seed: int
    lr: float
    warmup_fraction: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrialPoint:
        """The point of a trial config (`{axis name: value}`, as Ray Tune hands it to the trial)."""
        return cls(size=str(config[SIZE]), checkpoint_fraction=float(config[CHECKPOINT]),
                   intermediate_task=str(config[TASK]), intermediate_fraction=float(config[FRACTION]),
                   seed=int(config[SEED]), lr=float(config[LR]), warmup_fraction=float(config[WARMUP]))

    def as_config(self) -> dict[str, Any]:
        """`{axis name: value}`: the MLflow params and the cell of this point."""
        return {SIZE: self.size, CHECKPOINT: self.checkpoint_fraction, TASK: self.intermediate_task,
                FRACTION: self.intermediate_fraction, SEED: self.seed, LR: self.lr, WARMUP: self.warmup_fraction}

    @property
    def intermediate_tasks(self) -> tuple[str, ...]:
        """The intermediate task names (`a+b` is multi-task; `none` is the no-intermediate baseline)."""
        return tuple(self.intermediate_task.split("+"))

    @property
    def has_intermediate(self) -> bool:
        """Whether the trial trains an intermediate stage (task `none` and fraction 0 are the baseline)."""
        return self.intermediate_tasks != (NO_INTERMEDIATE,) and self.intermediate_fraction > 0


def pretraining_of(config: Mapping[str, Any]) -> tuple[str, int] | None:
    """What a trial's pretraining run is shared by: one run per (model size, seed) serves every
    checkpoint fraction. None when the trial pretrains nothing (random init, checkpoint fraction 0).

    The pipeline's pretraining cache key is built from this pair, and the sweep's scheduling waits on
    it, so the two agree by construction."""
    if float(config.get(CHECKPOINT, 1.0)) == 0.0:
        return None
    return str(config.get(SIZE)), int(config.get(SEED, 0))


def cell_id(cell: Mapping[str, Any]) -> str:
    """A stable, readable id of a grid cell (also the MLflow tag `xscale.cell`)."""
    return ",".join(f"{k}={_fmt(v)}" for k, v in sorted(cell.items()))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}" if math.isfinite(v) else str(v)
    return str(v)


# ------------------------------------------------------------------------------------- builders


def metric(stage: str, task: str, lang: str, name: str) -> str:
    """`{stage}/{task}/{lang}/{metric}`, e.g. `target/xnli/de/accuracy`."""
    return f"{stage}/{task}/{lang}/{name}"


def average(stage: str, task: str, name: str) -> str:
    """The mean over the non-English languages of a task: `{stage}/{task}/avg/{metric}`."""
    return metric(stage, task, AVG, name)


def dev(task: str, name: str) -> str:
    """English dev score of a target task: `dev/{task}/en/{metric}`."""
    return metric("dev", task, ENGLISH, name)


def align(after: str, probe: str, lang: str, name: str) -> str:
    """`align/{after}/{probe}/{lang}/{metric}`, e.g. `align/intermediate/retrieval/de/accuracy`."""
    return f"align/{after}/{probe}/{lang}/{name}"


def retention(probe: str, after: str = "intermediate", kind: str = "ratio") -> str:
    """Alignment kept after `after` relative to after pretraining, as a ratio
    (`align/retention/{probe}/avg`, `align/retention_target/...`) or an absolute drop
    (`align/drop/{probe}/avg`, `align/drop_target/...`)."""
    stem = {"ratio": "retention", "drop": "drop"}[kind]
    return f"align/{stem}{'' if after == 'intermediate' else '_' + after}/{probe}/{AVG}"


def scale(quantity: str) -> str:
    """`scale/params`, `scale/non_embedding_params`, `scale/pretrain_tokens`, ..."""
    return f"scale/{quantity}"


def learned(stage: str, task: str) -> str:
    """The learning gate of a task: 1 when its English dev score is clearly above chance."""
    return f"learned/{stage}/{task}"


def train_curve(stage: str, task: str, what: str = "loss") -> str:
    """Step metric of a training stage: `train/{stage}/{task}/loss` or `.../lr`."""
    return f"train/{stage}/{task}/{what}"


def data_split(task: str, lang: str) -> str:
    """Which split a language of a target task was evaluated on: `data/{task}/{lang}/split`."""
    return f"data/{task}/{lang}/split"


def compute_seconds(stage: str) -> str:
    """Compute seconds a trial spent in stages of one kind (`time/compute/{stage}_seconds`)."""
    return f"time/compute/{stage}_seconds"


# -------------------------------------------------------------------------------------- parsers


@dataclass(frozen=True)
class MetricKey:
    """A parsed `{stage}/{task}/{lang}/{metric}` key."""

    stage: str
    task: str
    lang: str
    metric: str


_FOUR = re.compile(r"^([^/]+)/([^/]+)/([^/]+)/([^/]+)$")
_ALIGN = re.compile(r"^align/([^/]+)/([^/]+)/([^/]+)/([^/]+)$")
_COMPUTE = re.compile(r"^time/compute/(.+)_seconds$")


def parse(key: str, stage: str | None = None) -> MetricKey | None:
    """The parts of a `{stage}/{task}/{lang}/{metric}` key (only of `stage` when given), else None."""
    m = _FOUR.match(key)
    if not m or key.startswith(("align/", "train/")) or (stage and m.group(1) != stage):
        return None
    return MetricKey(*m.groups())


def parse_align(key: str) -> MetricKey | None:
    """`align/{after}/{probe}/{lang}/{metric}` as MetricKey(stage=after, task=probe, lang, metric)."""
    m = _ALIGN.match(key)
    return MetricKey(*m.groups()) if m else None


def parse_compute(key: str) -> str | None:
    """The stage kind of a `time/compute/{stage}_seconds` key, else None."""
    m = _COMPUTE.match(key)
    return m.group(1) if m else None
