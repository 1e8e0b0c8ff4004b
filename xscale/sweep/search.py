"""How a sweep picks its trials: the grid cells, and the searched nuisance axes inside each cell.

`grid` and `random` go through Ray's BasicVariantGenerator; `optuna` through `CellSearch`, one seeded
TPE study per cell, so every cell gets the same budget and its best learning rate is chosen on
English dev data.
"""

from __future__ import annotations

import pickle
from typing import Any

import optuna
from ray import tune
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch

from xscale.keys import SIZE, pretraining_of
from xscale.spec import Choice, IntRange, LogUniform, Spec, Uniform

optuna.logging.set_verbosity(optuna.logging.WARNING)


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


def _tune_domain(axis):
    if isinstance(axis, Choice):
        return tune.choice(list(axis.choice))
    if isinstance(axis, LogUniform):
        return tune.loguniform(*axis.loguniform)
    if isinstance(axis, Uniform):
        return tune.uniform(*axis.uniform)
    if isinstance(axis, IntRange):
        return tune.randint(axis.int[0], axis.int[1] + 1)
    raise TypeError(axis)


class CellSearch(Searcher):
    """One seeded Optuna TPE study per grid cell, `trials_per_cell` trials each, cells taken in turn.

    Ray's OptunaSearch cannot hold grid axes fixed while it searches the others; giving each cell
    its own study keeps the scaling axes on the grid and the budget equal across cells.

    Turns follow `spec.cells()` (model size fastest), but a cell whose pretraining another running
    trial is still computing waits while any other cell can start: its trial would only sit on the
    stage cache's lease. When every remaining cell waits on a pretraining, the next one starts anyway
    (it sets up its benchmark while the lease is held, and no slot is left empty).
    """

    def __init__(self, spec: Spec, metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.cells = spec.cells()
        self.budget = spec.search.trials_per_cell
        space = {k: _optuna_distribution(v) for k, v in spec.searched_axes().items()}
        self.studies = [
            OptunaSearch(space=space, metric=metric, mode=mode,
                         sampler=optuna.samplers.TPESampler(seed=spec.search.seed + i, n_startup_trials=max(2, self.budget // 2)))
            for i in range(len(self.cells))
        ]
        # Cell indices in the order their trials are due: every cell once, then every cell again, ...
        self.queue = [i for _ in range(self.budget) for i in range(len(self.cells))]
        self.owner: dict[str, int] = {}
        self.pretraining: dict[str, tuple] = {}  # trial id -> the pretraining it computes or waits for
        self.pretrained: set[tuple] = set()

    def _next(self) -> int:
        """Position in the queue of the next trial to start."""
        busy = set(self.pretraining.values()) - self.pretrained
        for pos, i in enumerate(self.queue):
            if pretraining_of(self.cells[i]) not in busy:
                return pos
        return 0

    def suggest(self, trial_id: str):
        if not self.queue:
            return Searcher.FINISHED
        i = self.queue.pop(self._next())
        self.owner[trial_id] = i
        group = pretraining_of(self.cells[i])
        if group is not None and group not in self.pretrained:
            self.pretraining[trial_id] = group
        return {**self.cells[i], **self.studies[i].suggest(trial_id)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.pretraining and result.get("stage_index", 0) >= 1:  # past its pretraining stage
            self.pretrained.add(self.pretraining.pop(trial_id))
        if trial_id in self.owner and self.metric in result:
            self.studies[self.owner[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.pretraining.pop(trial_id, None)  # a trial that failed before pretraining leaves it to the next
        if trial_id in self.owner:
            self.studies[self.owner[trial_id]].on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
        if "issued" in self.__dict__:  # saved by an xscale that counted trials per cell: rebuild the queue
            issued = self.__dict__.pop("issued")
            self.__dict__.pop("next_cell", None)
            self.queue = [i for r in range(self.budget) for i in range(len(self.cells)) if issued[i] <= r]


def search_setup(spec: Spec) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, param_space, num_samples) for the spec's search settings."""
    metric, mode = spec.objective.metric, spec.objective.mode
    if spec.search.algorithm == "optuna":
        return CellSearch(spec, metric, mode), {}, len(spec.cells()) * spec.search.trials_per_cell
    # The last grid_search key varies fastest in Ray's expansion: put model size last so that
    # concurrent trials start on different sizes and share pretraining through the cache.
    grid = spec.grid_axes()
    space: dict[str, Any] = {}
    for name in [n for n in grid if n != SIZE] + [SIZE]:
        values = grid[name]
        space[name] = tune.grid_search(list(values)) if len(values) > 1 else values[0]
    for name, axis in spec.searched_axes().items():
        space[name] = _tune_domain(axis)
    samples = spec.search.trials_per_cell if spec.search.algorithm == "random" else 1
    return BasicVariantGenerator(random_state=spec.search.seed), space, samples
