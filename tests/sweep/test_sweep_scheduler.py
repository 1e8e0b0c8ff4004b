"""ASHA inside each grid cell: a trial whose English dev at the rung is clearly below its cell's best stops."""

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from xscale.spec import parse_spec
from xscale.sweep.scheduler import CellHalving


def _trial(trial_id, size):
    return SimpleNamespace(trial_id=trial_id, config={**CELL, "model.size": size})


SPEC = parse_spec({"model": {"size": {"grid": ["xs", "s"]}}, "optim": {"lr": {"loguniform": [1e-4, 1e-3]}},
                   "search": {"algorithm": "optuna", "trials_per_cell": 3},
                   "scheduler": {"kind": "asha", "grace_period": 2, "reduction_factor": 2, "min_gap": 2.0}}, name="t")
CELL = SPEC.cells()[0]


def _report(s, trial, dev, stage_index=2):
    return s.on_trial_result(None, trial, {"stage_index": stage_index, "dev/score": dev})


def test_only_trials_of_one_cell_compete_and_near_ties_continue():
    s = CellHalving(SPEC)
    assert _report(s, _trial("a", "xs"), 80.0) == TrialScheduler.CONTINUE  # the first of its cell
    assert _report(s, _trial("b", "s"), 40.0) == TrialScheduler.CONTINUE  # another cell: no competition
    assert _report(s, _trial("c", "xs"), 79.0) == TrialScheduler.CONTINUE  # within min_gap of the cut
    assert _report(s, _trial("d", "xs"), 60.0) == TrialScheduler.STOP  # clearly below its cell's best
    assert _report(s, _trial("e", "xs"), 10.0, stage_index=1) == TrialScheduler.CONTINUE  # not the rung
    assert s.stopped == {"d": next(iter(s.scores))}
