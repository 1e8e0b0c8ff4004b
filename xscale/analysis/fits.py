"""Scaling-law fits with confidence intervals from a bootstrap over seeds.

Seeds, not points, are resampled: the points of one seed share its pretraining run, data order and
initialisation, so they are not independent, and a point-level bootstrap would give CIs too narrow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from scipy.stats import t as student_t

MIN_X_VALUES = 3
"""Distinct x values a fit needs (a line through two points says nothing about its own error)."""

MIN_X_VALUES_POWER_LAW = 4
"""A three-parameter curve through three points fits any data exactly."""

MIN_SEEDS_FOR_CI = 2
MAX_FAILED_BOOT_FRACTION = 0.2
"""Above this share of non-converged resamples the CI would describe only the easy resamples."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% bootstrap interval (None when there is none)."""

    value: float
    low: float | None = None
    high: float | None = None

    @property
    def has_ci(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def includes_zero(self) -> bool:
        """Whether the CI contains zero (True without a CI: nothing excludes zero then)."""
        return not self.has_ci or self.low <= 0.0 <= self.high


@dataclass(frozen=True)
class Fit:
    """The result of one fit: estimates by parameter name, or a note saying why there are none."""

    model: str
    params: dict[str, Estimate] = field(default_factory=dict)
    n_points: int = 0
    n_x: int = 0
    n_seeds: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.params)


def log_linear(x, a, b):
    """score = a + b·log10(x): b is the change per decade (10x) of x."""
    return a + b * np.log10(x)


def power_law(u, a, b, alpha):
    """score = a − b·u^−alpha with u = x / min(x), so b is the distance to the asymptote a at min(x)."""
    return a - b * np.power(u, -alpha)


def _as_arrays(x, y, seed, group=None):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    seed = np.asarray(seed)
    group = np.zeros(len(x), dtype=int) if group is None else np.unique(np.asarray(group), return_inverse=True)[1]
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    return x[keep], y[keep], seed[keep], group[keep]


def _seed_rows(seed: np.ndarray) -> dict:
    return {s: np.flatnonzero(seed == s) for s in np.unique(seed)}


def expanded_tail(n_seeds: int, level: float = 0.95) -> float:
    """Tail probability for the expanded percentile interval (Hesterberg 2015, "What teachers should know
    about the bootstrap"): with n resampled units the plain percentile interval is too narrow by about
    sqrt((n-1)/n) and ignores t-tails; this moves the cut points out to match a t interval. With 3 seeds
    it reaches the most extreme resamples, i.e. roughly the spread of the per-seed estimates.
    """
    t = student_t.ppf(0.5 + level / 2, n_seeds - 1)
    return float(norm.cdf(-np.sqrt(n_seeds / (n_seeds - 1)) * t))


def _bootstrap(
    seed_ids: np.ndarray,
    estimator: Callable[[np.ndarray], np.ndarray | None],
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray | None, str]:
    """Expanded-percentile 95% CIs of estimator(resampled seed ids); returns (low/high rows x params, note)."""
    reps = []
    for _ in range(n_boot):
        est = estimator(rng.choice(seed_ids, size=len(seed_ids), replace=True))
        if est is not None and np.all(np.isfinite(est)):
            reps.append(est)
    failed = n_boot - len(reps)
    if failed > MAX_FAILED_BOOT_FRACTION * n_boot:
        return None, f"no CI: {failed} of {n_boot} bootstrap refits failed"
    note = f"{failed} of {n_boot} bootstrap refits failed and were dropped" if failed else ""
    tail = expanded_tail(len(seed_ids))
    return np.quantile(np.asarray(reps), [tail, 1.0 - tail], axis=0), note


def _check(x, min_x: int) -> str:
    n_x = len(np.unique(x))
    if n_x < min_x:
        return f"too few points to fit: {n_x} distinct x value(s), {min_x} needed"
    return ""


def _slope_lstsq(x, y, group) -> np.ndarray | None:
    """Least-squares [slope] of y on log10 x with one intercept per group (fixed effects)."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    design = np.zeros((len(x), n_groups + 1))
    design[np.arange(len(x)), group] = 1.0
    design[:, -1] = np.log10(x)
    # A slope is identified only when some group spans two x values; otherwise lstsq returns noise.
    if not any(len(np.unique(x[group == g])) > 1 for g in range(n_groups)):
        return None
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def fit_log_linear(
    x, y, seed, group=None, n_boot: int = 1000, rng: np.random.Generator | None = None, min_x: int = MIN_X_VALUES
) -> Fit:
    """Fit score = a_group + b·log10 x (one intercept per group, a shared slope b per decade of x).

    With a single group the intercept a is reported too. CIs resample seed ids with replacement.
    """
    rng = rng or np.random.default_rng(0)
    x, y, seed, group = _as_arrays(x, y, seed, group)
    rows = _seed_rows(seed)
    base = dict(model="log-linear", n_points=len(x), n_x=len(np.unique(x)), n_seeds=len(rows))
    problem = _check(x, min_x)
    coef = None if problem else _slope_lstsq(x, y, group)
    if coef is None:
        return Fit(**base, note=problem or "no group spans two x values")
    single = int(group.max()) == 0
    names = ["intercept", "slope"] if single else ["slope"]
    point = np.array([coef[0], coef[-1]]) if single else np.array([coef[-1]])

    def estimator(pick):
        idx = np.concatenate([rows[s] for s in pick])
        c = _slope_lstsq(x[idx], y[idx], group[idx])
        if c is None:
            return None
        return np.array([c[0], c[-1]]) if single else np.array([c[-1]])

    return _with_ci(base, names, point, rows, estimator, n_boot, rng)


def _with_ci(base, names, point, rows, estimator, n_boot, rng, note="") -> Fit:
    if len(rows) < MIN_SEEDS_FOR_CI:
        ci, boot_note = None, f"no CI: {len(rows)} seed(s), {MIN_SEEDS_FOR_CI} needed"
    else:
        ci, boot_note = _bootstrap(np.array(list(rows)), estimator, n_boot, rng)
    notes = "; ".join(n for n in (note, boot_note) if n)
    params = {
        name: Estimate(float(point[i]), *((float(ci[0, i]), float(ci[1, i])) if ci is not None else ()))
        for i, name in enumerate(names)
    }
    return Fit(**base, params=params, note=notes)


ALPHA_BOUNDS = (1e-3, 10.0)
_ALPHA_GRID = np.geomspace(*ALPHA_BOUNDS, 121)


def _linear_given_alpha(u, y, alphas):
    """For each alpha, the least-squares a, b of y = a − b·u^−alpha (linear once alpha is fixed) and the SSE."""
    z = np.power(u[:, None], -np.asarray(alphas, dtype=float)[None, :])
    zc = z - z.mean(axis=0)
    yc = y - y.mean()
    szz = (zc * zc).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (zc * yc[:, None]).sum(axis=0) / szz
    a = y.mean() - slope * z.mean(axis=0)
    sse = ((y[:, None] - a - slope * z) ** 2).sum(axis=0)
    return a, -slope, np.where(szz > 0, sse, np.inf)


def _fit_power_law_once(u, y) -> np.ndarray | None:
    """Least squares by variable projection: a grid over alpha, then a bounded 1-D refinement.

    a and b are linear given alpha, so only alpha needs a search; this finds the global optimum on
    the grid (curve_fit can stop in a local one) and is fast enough to refit every bootstrap resample.
    """
    if len(np.unique(u)) < 3:
        return None
    _, _, sse = _linear_given_alpha(u, y, _ALPHA_GRID)
    i = int(np.argmin(sse))
    if not np.isfinite(sse[i]):
        return None
    lo, hi = _ALPHA_GRID[max(i - 1, 0)], _ALPHA_GRID[min(i + 1, len(_ALPHA_GRID) - 1)]
    best = minimize_scalar(lambda al: _linear_given_alpha(u, y, [al])[2][0], bounds=(lo, hi), method="bounded")
    alpha = float(best.x) if best.success and best.fun <= sse[i] else float(_ALPHA_GRID[i])
    a, b, _ = _linear_given_alpha(u, y, [alpha])
    return np.array([a[0], b[0], alpha])


def fit_power_law(x, y, seed, n_boot: int = 1000, rng: np.random.Generator | None = None) -> Fit:
    """Fit the saturating power law score = a − b·(x/min x)^−alpha; a is the asymptote."""
    rng = rng or np.random.default_rng(0)
    x, y, seed, _ = _as_arrays(x, y, seed)
    rows = _seed_rows(seed)
    base = dict(model="power law", n_points=len(x), n_x=len(np.unique(x)), n_seeds=len(rows))
    problem = _check(x, MIN_X_VALUES_POWER_LAW)
    if problem:
        return Fit(**base, note=problem)
    u = x / x.min()
    point = _fit_power_law_once(u, y)
    if point is None:
        return Fit(**base, note="power law did not converge")

    def estimator(pick):
        idx = np.concatenate([rows[s] for s in pick])
        return _fit_power_law_once(u[idx], y[idx])

    return _with_ci(base, ["a", "b", "alpha"], point, rows, estimator, n_boot, rng, note="x normalised by its minimum")


def slope_difference(
    first: tuple, second: tuple, n_boot: int = 1000, rng: np.random.Generator | None = None
) -> tuple[Estimate | None, str]:
    """Slope of `first` minus slope of `second`, each an (x, y, seed, group) log-linear fit.

    Paired bootstrap: the same resampled seed ids feed both refits, so what the two curves share
    through a seed (its pretraining run, its data order) cancels in the difference.
    """
    rng = rng or np.random.default_rng(0)
    a = _as_arrays(*first)
    b = _as_arrays(*second)
    for arrays in (a, b):
        problem = _check(arrays[0], MIN_X_VALUES)
        if problem:
            return None, problem
    slopes = [_slope_lstsq(arr[0], arr[1], arr[3]) for arr in (a, b)]
    if any(s is None for s in slopes):
        return None, "no group spans two x values"
    point = slopes[0][-1] - slopes[1][-1]
    rows_a, rows_b = _seed_rows(a[2]), _seed_rows(b[2])
    shared = np.array(sorted(set(rows_a) & set(rows_b)))
    if len(shared) < MIN_SEEDS_FOR_CI:
        return Estimate(float(point)), f"no CI: {len(shared)} shared seed(s), {MIN_SEEDS_FOR_CI} needed"

    def estimator(pick):
        out = []
        for (x, y, _, g), rows in ((a, rows_a), (b, rows_b)):
            idx = np.concatenate([rows[s] for s in pick])
            c = _slope_lstsq(x[idx], y[idx], g[idx])
            if c is None:
                return None
            out.append(c[-1])
        return np.array([out[0] - out[1]])

    ci, note = _bootstrap(shared, estimator, n_boot, rng)
    if ci is None:
        return Estimate(float(point)), note
    return Estimate(float(point), float(ci[0, 0]), float(ci[1, 0])), note
