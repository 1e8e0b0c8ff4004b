"""Multi-fidelity inside a grid cell: a trial whose English dev score after the intermediate stage is
clearly worse than the best of its cell stops before its target stages.

Tune's ASHAScheduler ranks every trial against every other, but trials of different cells differ in
model size and data (the scaling axes the sweep measures), not in how good their learning rate is:
only the trials of one cell compete. This is ASHA's asynchronous promotion rule (Li et al. 2020) applied
per cell at one rung: when a trial reports the rung, it continues if its score is among the top
1/reduction_factor of the scores its cell has reported there so far, or within `min_gap` points of
that cut. The first trial of a cell always continues.
"""

from __future__ import annotations

import math

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from xscale.keys import cell_id
from xscale.spec import Spec


class CellHalving(FIFOScheduler):
    """Successive halving of each cell's trials at report number `grace_period` (2: after the
    intermediate stage)."""

    def __init__(self, spec: Spec):
        super().__init__()
        self.grid = list(spec.grid_axes())
        self.rung = spec.scheduler.grace_period
        self.eta = spec.scheduler.reduction_factor
        self.gap = spec.scheduler.min_gap
        self.objective = spec.objective.metric
        self.sign = 1.0 if spec.objective.mode == "max" else -1.0
        self.scores: dict[str, list[float]] = {}
        self.stopped: dict[str, str] = {}  # trial id -> its cell

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if result.get("stage_index") != self.rung or result.get(self.objective) is None:
            return TrialScheduler.CONTINUE
        cell = cell_id({k: trial.config[k] for k in self.grid})
        score = self.sign * float(result[self.objective])
        seen = self.scores.setdefault(cell, [])
        seen.append(score)
        promoted = max(1, math.floor(len(seen) / self.eta))
        cut = sorted(seen, reverse=True)[promoted - 1]
        if score < cut - self.gap:
            self.stopped[trial.trial_id] = cell
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE
