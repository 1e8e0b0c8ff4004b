"""Slopes with intervals that keep their coverage with few seeds, and the multiplicity correction.

A seed is one replicate of the whole grid: its own pretraining run, initialisation and data order. Points
of one seed share those, so they are not independent; seeds are. Every effect is therefore estimated
once per seed (a slope fitted to that seed's points alone, or a paired difference) and the interval is a
Student t interval over the per-seed estimates: exact under normal seed-to-seed variation, and it widens
honestly when there are few seeds (a bootstrap over 3 seeds returns their range, which covers the
truth about 3 times in 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import t as student_t

LEVEL = 0.95
MIN_X_VALUES = 2
"""Distinct x values a seed needs for its slope."""
MIN_SEEDS_FOR_INTERVAL = 2
POWER = 0.8
"""Power at which the smallest detectable effect is quoted."""


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its t interval at `level` (no interval with fewer than 2 seeds)."""

    value: float
    low: float | None = None
    high: float | None = None
    n_seeds: int = 0
    level: float = LEVEL
    p_value: float | None = None
    detectable: float | None = None
    """Smallest true effect this many seeds would detect with 80% power at `level` (two-sided)."""
    per_seed: tuple[float, ...] = field(default=(), compare=False)

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def excludes_zero(self) -> bool:
        return self.has_interval and (self.low > 0 or self.high < 0)

    def at_level(self, level: float) -> Estimate:
        """The same estimate with its interval at another confidence level."""
        return t_interval(self.per_seed, level) if self.per_seed else self


def t_interval(values, level: float = LEVEL) -> Estimate:
    """Mean of per-seed estimates with its Student t interval, p-value against 0 and detectable effect."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return Estimate(float("nan"))
    mean = float(v.mean())
    if n < MIN_SEEDS_FOR_INTERVAL:
        return Estimate(mean, n_seeds=n, level=level, per_seed=tuple(v))
    se = float(v.std(ddof=1) / np.sqrt(n))
    q = float(student_t.ppf(0.5 + level / 2, n - 1))
    if se == 0:
        p = 0.0 if mean != 0 else 1.0
    else:
        p = float(2 * student_t.sf(abs(mean) / se, n - 1))
    detectable = (q + float(student_t.ppf(POWER, n - 1))) * se
    return Estimate(mean, mean - q * se, mean + q * se, n, level, p, detectable, tuple(v))


def seed_slope(x, y, group=None) -> float | None:
    """Least-squares slope of y on log10 x with one intercept per group (the other axes held fixed);
    None when no group spans two x values."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    if group is None:
        group = np.zeros(len(x), dtype=int)
    g = np.unique(np.asarray(group)[keep], return_inverse=True)[1]
    x, y = x[keep], y[keep]
    if not any(len(np.unique(x[g == k])) >= MIN_X_VALUES for k in range(g.max() + 1 if len(g) else 0)):
        return None
    design = np.zeros((len(x), g.max() + 2))
    design[np.arange(len(x)), g] = 1.0
    design[:, -1] = np.log10(x)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(coef[-1])


def slope(x, y, seed, group=None, level: float = LEVEL) -> tuple[Estimate | None, str]:
    """Slope per decade of x: the t interval over per-seed slopes. Returns (estimate, note)."""
    x, y, seed = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(seed)
    group = np.zeros(len(x), dtype=int) if group is None else np.asarray(group)
    per_seed, skipped = [], []
    for s in np.unique(seed):
        rows = seed == s
        b = seed_slope(x[rows], y[rows], group[rows])
        (per_seed if b is not None else skipped).append(b if b is not None else s)
    if not per_seed:
        return None, f"no seed has {MIN_X_VALUES} distinct x values"
    note = f"seeds without two x values left out: {', '.join(map(str, skipped))}" if skipped else ""
    return t_interval(per_seed, level), note


def paired_difference(first: dict, second: dict, level: float = LEVEL) -> Estimate:
    """`first - second` over the seeds both have ({seed: value}), with its t interval."""
    shared = sorted(set(first) & set(second))
    return t_interval([first[s] - second[s] for s in shared], level)


def holm(p_values: list[float | None], alpha: float = 1 - LEVEL) -> list[float | None]:
    """Holm's step-down procedure: the confidence level of each hypothesis's interval, so that an
    interval excludes 0 exactly when Holm rejects the hypothesis (family-wise error `alpha`).

    Hypotheses in order of p-value get alpha/m, alpha/(m-1), ...; once one is not rejected, it and
    every later one keep that step's level. None (no p-value) stays None."""
    order = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(order)
    levels: list[float | None] = [None] * len(p_values)
    stopped_at = None
    for rank, (p, i) in enumerate(order):
        step_alpha = alpha / (m - rank) if stopped_at is None else stopped_at
        if stopped_at is None and p > step_alpha:
            stopped_at = step_alpha
        levels[i] = 1 - step_alpha
    return levels


# --------------------------------------------------------------------------------- power law


ALPHA_BOUNDS = (1e-3, 10.0)
_ALPHA_GRID = np.geomspace(*ALPHA_BOUNDS, 121)


def _linear_given_alpha(u, y, alphas):
    """For each alpha, the least-squares a, b of y = a − b·u^−alpha (linear once alpha is fixed) and the SSE."""
    z = np.power(u[:, None], -np.asarray(alphas, dtype=float)[None, :])
    zc = z - z.mean(axis=0)
    yc = y - y.mean()
    szz = (zc * zc).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (zc * yc[:, None]).sum(axis=0) / szz
    a = y.mean() - b * z.mean(axis=0)
    sse = ((y[:, None] - a - b * z) ** 2).sum(axis=0)
    return a, -b, np.where(szz > 0, sse, np.inf)


@dataclass(frozen=True)
class PowerLaw:
    """score = a − b·(x / x_min)^−alpha: a is the asymptote, b the distance to it at the smallest x."""

    a: float
    b: float
    alpha: float
    x_min: float
    note: str = ""

    def __call__(self, x):
        return self.a - self.b * np.power(np.asarray(x, dtype=float) / self.x_min, -self.alpha)


def fit_power_law(x, y) -> PowerLaw | None:
    """Least squares by variable projection (a grid over alpha, then a bounded 1-D refinement): a and b
    are linear given alpha, so this finds the global optimum on the grid. A point estimate only: with 3-4
    x values a three-parameter curve has no interval worth quoting; the report's claims rest on slopes."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < 4:
        return None
    u = x / x.min()
    _, _, sse = _linear_given_alpha(u, y, _ALPHA_GRID)
    i = int(np.argmin(sse))
    if not np.isfinite(sse[i]):
        return None
    lo, hi = _ALPHA_GRID[max(i - 1, 0)], _ALPHA_GRID[min(i + 1, len(_ALPHA_GRID) - 1)]
    best = minimize_scalar(lambda al: _linear_given_alpha(u, y, [al])[2][0], bounds=(lo, hi), method="bounded")
    alpha = float(best.x) if best.success and best.fun <= sse[i] else float(_ALPHA_GRID[i])
    a, b, _ = _linear_given_alpha(u, y, [alpha])
    note = ""
    if alpha <= ALPHA_BOUNDS[0] * 1.01:
        note = "alpha at its lower bound: no saturation visible"
    elif alpha >= ALPHA_BOUNDS[1] * 0.99:
        note = "alpha at its upper bound: flat beyond the smallest x"
    return PowerLaw(float(a[0]), float(b[0]), alpha, float(x.min()), note)
