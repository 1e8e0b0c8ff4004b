"""How a sweep picks its trials: the grid cells, and the searched nuisance axes inside each cell.

Every trial has a deterministic key, `{cell id}#{index within the cell}` (the seed is a grid axis, so
it is part of the cell). The key is what makes a sweep exactly-once: the driver logs it on the trial's
MLflow run, and on `--resume` it reads the tracking store and hands this searcher the keys that already
FINISHED (never issued again; their results go to the cell's Optuna study as completed trials) and the
keys to run again with the configuration they had (rerun from their cached stages).

`grid` runs each cell once; `random` draws the searched axes from a generator seeded by the key;
`optuna` keeps one seeded TPE study per cell, so every cell gets the same budget and its best learning
rate is chosen on English dev data (Ray's OptunaSearch cannot hold grid axes fixed while it searches
the others).
"""

from __future__ import annotations

import hashlib
import pickle
import random
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray.tune.search import Searcher

from xscale.keys import CHECKPOINT, cell_id, pretraining_of
from xscale.spec import Choice, IntRange, LogUniform, Spec, Uniform

optuna.logging.set_verbosity(optuna.logging.WARNING)

TRIAL_KEY = "xscale.trial_key"
"""The config field (and MLflow tag) that carries a trial's key."""


def _optuna_distribution(axis) -> optuna.distributions.BaseDistribution:
    if isinstance(axis, Choice):
        return optuna.distributions.CategoricalDistribution(list(axis.choice))
    if isinstance(axis, LogUniform):
        return optuna.distributions.FloatDistribution(*axis.loguniform, log=True)
    if isinstance(axis, Uniform):
        return optuna.distributions.FloatDistribution(*axis.uniform)
    if isinstance(axis, IntRange):
        return optuna.distributions.IntDistribution(*axis.int)
    raise TypeError(axis)


def _draw(axis, rng: random.Random):
    """One value of a searched axis for `random` search."""
    if isinstance(axis, Choice):
        return rng.choice(list(axis.choice))
    if isinstance(axis, LogUniform):
        lo, hi = axis.loguniform
        return lo * (hi / lo) ** rng.random()
    if isinstance(axis, Uniform):
        return rng.uniform(*axis.uniform)
    if isinstance(axis, IntRange):
        return rng.randint(*axis.int)
    raise TypeError(axis)


@dataclass
class Reconciled:
    """What the tracking store says about an earlier invocation of the sweep."""

    done: dict[str, tuple[dict, float | None]] = field(default_factory=dict)
    """Keys with a FINISHED run: (their searched values, their objective)."""
    redo: dict[str, dict] = field(default_factory=dict)
    """Keys to run again (KILLED, RUNNING from a dead driver, FAILED with --retry-failed): their values."""
    failed: set[str] = field(default_factory=set)
    """FAILED keys that stay failed (no --retry-failed): not issued again."""


class CellSearch(Searcher):
    """Trials in turn over the grid cells, `trials_per_cell` each, every one with a deterministic key.

    Turns follow `spec.cells()` (model size fastest), but a cell whose pretraining another running
    trial is still computing waits: its trial would only sit on the stage cache's lease, holding a
    worker. That covers the shared run of its size and seed and its own checkpoint (the cooled-down
    branch and the probe of that encoder, which the first trial at that checkpoint computes). A ready
    cell further down the queue goes first; when no cell is ready, `suggest` returns None and Tune
    asks again after the next report (the running trial that holds the pretraining always reports or
    ends).
    """

    def __init__(self, spec: Spec, metric: str, mode: str, reconciled: Reconciled | None = None):
        super().__init__(metric=metric, mode=mode)
        self.cells = spec.cells()
        self.budget = spec.search.trials_per_cell if spec.search.algorithm != "grid" else 1
        self.algorithm = spec.search.algorithm
        self.seed = spec.search.seed
        self.searched = spec.searched_axes()
        self.space = {k: _optuna_distribution(v) for k, v in self.searched.items()}
        self.studies = [self._study(i) for i in range(len(self.cells))] if self.algorithm == "optuna" else []
        reconciled = reconciled or Reconciled()
        self.redo = dict(reconciled.redo)
        # The slots in the order they are due: every cell once, then every cell again, ...
        slots = [(i, k) for k in range(self.budget) for i in range(len(self.cells))]
        skip = set(reconciled.done) | reconciled.failed
        self.queue = [s for s in slots if self.key(*s) not in skip]
        for key, (values, objective) in reconciled.done.items():
            self._tell_done(key, values, objective)
        self.owner: dict[str, tuple[int, int]] = {}
        self.asked: dict[str, Any] = {}  # trial id -> its optuna trial
        self.pretraining: dict[str, set[tuple]] = {}  # trial id -> the pretraining it computes or waits for
        self.pretrained: set[tuple] = set()

    def _study(self, i: int) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(seed=self.seed + i, n_startup_trials=max(2, self.budget // 2))
        return optuna.create_study(direction="maximize" if self.mode == "max" else "minimize", sampler=sampler)

    def key(self, i: int, k: int) -> str:
        """The key of the k-th trial of cell i."""
        return f"{cell_id(self.cells[i])}#{k}"

    def _slot_of(self, key: str) -> tuple[int, int] | None:
        for i in range(len(self.cells)):
            for k in range(self.budget):
                if self.key(i, k) == key:
                    return i, k
        return None

    def _tell_done(self, key: str, values: dict, objective: float | None) -> None:
        slot = self._slot_of(key)
        if slot is None or not self.studies:
            return
        params = {k: values[k] for k in self.space if k in values}
        state = optuna.trial.TrialState.COMPLETE if objective is not None else optuna.trial.TrialState.FAIL
        self.studies[slot[0]].add_trial(optuna.trial.create_trial(
            params=params, distributions=self.space, value=objective, state=state))

    def _next(self) -> int | None:
        """Position in the queue of the next trial to start; None while every cell left waits."""
        busy = set().union(*self.pretraining.values()) - self.pretrained
        for pos, (i, _) in enumerate(self.queue):
            if not _pretraining_groups(self.cells[i]) & busy:
                return pos
        return None

    def _values(self, trial_id: str, i: int, k: int) -> dict:
        key = self.key(i, k)
        if key in self.redo:
            values = {n: self.redo[key][n] for n in self.searched}
            if self.studies:
                self.studies[i].enqueue_trial(values)
                self.asked[trial_id] = self.studies[i].ask(self.space)
            return values
        if self.algorithm == "optuna":
            trial = self.studies[i].ask(self.space)
            self.asked[trial_id] = trial
            return dict(trial.params)
        rng = random.Random(int(hashlib.sha256(f"{self.seed}:{key}".encode()).hexdigest()[:16], 16))
        return {n: _draw(axis, rng) for n, axis in self.searched.items()}

    def suggest(self, trial_id: str):
        if not self.queue:
            return Searcher.FINISHED
        pos = self._next()
        if pos is None:
            return None
        i, k = self.queue.pop(pos)
        self.owner[trial_id] = (i, k)
        groups = _pretraining_groups(self.cells[i]) - self.pretrained
        if groups:
            self.pretraining[trial_id] = groups
        return {**self.cells[i], **self._values(trial_id, i, k), TRIAL_KEY: self.key(i, k)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.pretraining and result.get("stage_index", 0) >= 1:  # past its pretraining stage
            self.pretrained |= self.pretraining.pop(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.pretraining.pop(trial_id, None)  # a trial that failed before pretraining leaves it to the next
        trial = self.asked.pop(trial_id, None)
        if trial is None or trial_id not in self.owner:
            return
        study = self.studies[self.owner[trial_id][0]]
        value = None if error or not result else result.get(self.metric)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, float(value))

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


def _pretraining_groups(cell: dict) -> set[tuple]:
    """What a trial of this cell computes, or waits for, before its first report: the pretraining run
    of its size and seed, and that run's encoder at the cell's checkpoint fraction."""
    run = pretraining_of(cell)
    return set() if run is None else {run, (*run, float(cell.get(CHECKPOINT, 1.0)))}


def search_setup(spec: Spec, reconciled: Reconciled | None = None) -> CellSearch:
    """The searcher of a sweep (every algorithm goes through CellSearch, so every trial has a key)."""
    return CellSearch(spec, spec.objective.metric, spec.objective.mode, reconciled)
