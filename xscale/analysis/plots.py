"""Report figures, drawn on bare Agg figures (no pyplot global state, no display needed).

What every figure draws, its subtitle says: lines are means over seeds, bands are 95% t intervals over
seeds (drawn only where there are two seeds or more), dashed grey lines mark chance, ordered axes get a
sequential colour map.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from scipy.stats import t as student_t

from xscale import keys
from xscale.analysis.fits import LEVEL
from xscale.analysis.scaling import STAGES, Analysis, power_law_of
from xscale.analysis.table import AXIS_BY_KEY, AxisData, series_order
from xscale.keys import SEED
from xscale.tasks.registry import TASKS, chance_level

MAX_LABELLED_TICKS = 8
DPI = 130
MARKERS = "osD^vP*Xh<>"


def human(x: float) -> str:
    """1.2e6 -> '1.2M': tick labels short enough to read."""
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def _figure(n_panels: int, width: float = 5.2, height: float = 3.9) -> tuple[Figure, list]:
    cols = min(n_panels, 3)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.7), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def _log_x(ax, xs) -> None:
    ax.set_xscale("log")
    xs = sorted(set(float(x) for x in xs))
    if len(xs) <= MAX_LABELLED_TICKS:  # with few points the default log ticks label one or none
        ax.set_xticks(xs)
        ax.set_xticklabels([human(x) for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())


def _stats(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Per group: mean over seeds of the per-seed mean, and the half-width of its 95% t interval."""
    per_seed = frame.dropna(subset=[value]).groupby(by + [SEED])[value].mean().reset_index()
    stats = per_seed.groupby(by)[value].agg(["mean", "std", "count"]).reset_index()
    q = student_t.ppf(0.5 + LEVEL / 2, np.maximum(stats["count"] - 1, 1))
    stats["half"] = np.where(stats["count"] >= 2, q * stats["std"] / np.sqrt(stats["count"]), np.nan)
    return stats


def _line(ax, stats: pd.DataFrame, label: str, **style) -> None:
    stats = stats.sort_values("x")
    style.setdefault("marker", "o")
    (line,) = ax.plot(stats["x"], stats["mean"], label=label, **style)
    if stats["half"].notna().any():
        half = stats["half"].fillna(0).to_numpy(float)
        ax.fill_between(stats["x"], stats["mean"] - half, stats["mean"] + half, color=line.get_color(), alpha=0.18)


def _colours(n: int) -> list:
    """A sequential map for the ordered lines of an axis (small to large), readable on white."""
    cmap = colormaps["viridis"]
    return [cmap(0.85 * i / max(1, n - 1)) for i in range(n)]


def _series_panel(ax, frame: pd.DataFrame, value: str) -> None:
    stats = _stats(frame, value, ["series", "x"])
    order = [s for s in series_order(frame) if s in set(stats["series"])]
    for i, (series, colour) in enumerate(zip(order, _colours(len(order)))):
        _line(ax, stats[stats["series"] == series], series, color=colour, marker=MARKERS[i % len(MARKERS)])


def _chance(ax, tasks: list[str]) -> None:
    """Dashed line at chance when every task in the panel has one (a mean of chance levels otherwise)."""
    levels = [chance_level(TASKS[t]) if t in TASKS else None for t in tasks]
    if levels and all(v is not None for v in levels):
        ax.axhline(float(np.mean(levels)), color="grey", lw=1, ls="--", label="chance")


def _subtitle(frame: pd.DataFrame, fit: bool = False) -> str:
    seeds = frame[SEED].nunique() if SEED in frame.columns else 1
    plural = "s" if seeds != 1 else ""
    if fit:
        bars = "with 95% t interval over seeds" if seeds >= 2 else "no interval with one seed"
        return f"points: mean over {seeds} seed{plural}, {bars}; line and band: the fit and its 95% interval"
    bands = "bands: 95% t interval over seeds" if seeds >= 2 else "one seed: no interval bands"
    return f"lines: mean over {seeds} seed{plural}; {bands}"


def _finish(fig: Figure, path: Path, title: str, frame: pd.DataFrame, fit: bool = False) -> Path:
    fig.suptitle(f"{title}\n({_subtitle(frame, fit)})", fontsize=11)
    fig.savefig(path)
    return path


def _shared_legend(fig: Figure, ax, title: str) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(handles)), fontsize=8,
                   title=title, title_fontsize=8)


def score_vs_axis(analysis: Analysis, key: str, path: Path) -> Path:
    """Zero-shot score against a scaling axis: the mean over answer tasks, then a panel per task."""
    data = analysis.axes[key]
    panels = [("zeroshot", "mean over learned target tasks", list(analysis.tasks))]
    if len(analysis.tasks) > 1:
        panels += [(f"zeroshot/{t}", t, [t]) for t in analysis.tasks]
    fig, axes = _figure(len(panels))
    for ax, (value, panel_title, tasks) in zip(axes, panels):
        if value in data.frame.columns:
            _series_panel(ax, data.frame, value)
        _chance(ax, tasks)
        _log_x(ax, data.frame["x"])
        ax.set(title=panel_title, xlabel=f"{data.x_label} (log scale)", ylabel="zero-shot score (points)")
        ax.grid(alpha=0.3)
    _shared_legend(fig, axes[0], "other axes")
    return _finish(fig, path, f"Zero-shot transfer (mean over non-English languages) vs {AXIS_BY_KEY[key].title}",
                   data.frame)


def fit_plot(analysis: Analysis, key: str, path: Path) -> Path:
    """The main effect (per seed: mean over the other axes) with the log-linear fit and its 95% band, and
    the saturating power law as a descriptive curve."""
    data = analysis.axes[key]
    frame = data.frame.dropna(subset=["zeroshot"])
    fig, (ax,) = _figure(1, width=7.5, height=4.6)
    main = frame.groupby(["x", SEED])["zeroshot"].mean().reset_index()
    stats = _stats(main.assign(series="all"), "zeroshot", ["x"])
    ax.errorbar(stats["x"], stats["mean"], yerr=stats["half"].fillna(0), fmt="o", color="black", capsize=3,
                label="mean over seeds (95% interval)")
    effect = analysis.find("zeroshot", key)
    xs = np.geomspace(frame["x"].min(), frame["x"].max(), 100)
    seed_lines = []
    for _, sub in main.groupby(SEED):
        if sub["x"].nunique() >= 2:
            b, a = np.polyfit(np.log10(sub["x"]), sub["zeroshot"], 1)
            seed_lines.append(a + b * np.log10(xs))
    if seed_lines:
        seed_lines = np.array(seed_lines)
        mean = seed_lines.mean(0)
        label = "log-linear fit"
        if effect is not None and effect.estimate is not None:
            label += f": {effect.estimate.value:+.2f} points per 10×"
        (line,) = ax.plot(xs, mean, color="C0", label=label)
        if len(seed_lines) >= 2:
            q = student_t.ppf(0.5 + LEVEL / 2, len(seed_lines) - 1)
            half = q * seed_lines.std(0, ddof=1) / np.sqrt(len(seed_lines))
            ax.fill_between(xs, mean - half, mean + half, color=line.get_color(), alpha=0.18,
                            label="95% band of the fit")
    power = power_law_of(data)
    if power is not None:
        label = f"power law (descriptive): asymptote {power.a:.1f}, alpha {power.alpha:.2g}"
        ax.plot(xs, power(xs), color="C1", ls=":", label=label + (f" ({power.note})" if power.note else ""))
    _chance(ax, list(analysis.tasks))
    _log_x(ax, frame["x"])
    ax.set(xlabel=f"{data.x_label} (log scale)", ylabel="zero-shot score (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, path, f"Zero-shot score vs {AXIS_BY_KEY[key].title}: main effect and fits", frame, fit=True)


def alignment_plot(analysis: Analysis, path: Path) -> Path:
    """Each probe after each stage against model size (mean over the other axes), with the random-init
    reference of the same width dashed."""
    data = analysis.axes["size"]
    probes = list(analysis.probes)
    fig, axes = _figure(len(probes))
    colours = dict(zip(STAGES, _colours(len(STAGES))))
    for ax, probe in zip(axes, probes):
        metric = analysis.probes[probe]
        for stage in STAGES + ("random",):
            column = keys.align(stage, probe, keys.AVG, metric)
            if column in data.frame.columns and data.frame[column].notna().any():
                stats = _stats(data.frame.assign(series="all"), column, ["x"])
                style = {"color": "grey", "ls": "--", "marker": "x"} if stage == "random" else {"color": colours[stage]}
                _line(ax, stats, "random init" if stage == "random" else f"after {stage}", **style)
        _log_x(ax, data.frame["x"])
        unit = "CKA" if "cka" in probe else "accuracy@1 (points)"
        ax.set(title=probe, xlabel=f"{data.x_label} (log scale)", ylabel=unit)
        ax.grid(alpha=0.3)
    _shared_legend(fig, axes[0], "")
    return _finish(fig, path, "Cross-lingual alignment after each stage vs model size (mean over the other axes)",
                   data.frame)


def retention_plot(analysis: Analysis, path: Path) -> Path:
    """The drop in each probe after intermediate and after target training, against model size."""
    data = analysis.axes["size"]
    probes = list(analysis.probes)
    fig, axes = _figure(len(probes))
    for ax, probe in zip(axes, probes):
        for after, colour in zip(("intermediate", "target"), _colours(2)):
            column = keys.retention(probe, after, "drop")
            frame = data.frame
            if after == "intermediate" and "intermediate.task" in frame.columns:
                frame = frame[frame["intermediate.task"].astype(str) != keys.NO_INTERMEDIATE]
            if column in frame.columns and frame[column].notna().any():
                _line(ax, _stats(frame.assign(series="all"), column, ["x"]), f"after {after}", color=colour)
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        _log_x(ax, data.frame["x"])
        ax.set(title=probe, xlabel=f"{data.x_label} (log scale)", ylabel="drop from after pretraining")
        ax.grid(alpha=0.3)
    _shared_legend(fig, axes[0], "")
    return _finish(fig, path, "Alignment lost through fine-tuning vs model size (above 0: lost)", data.frame)


def flops_plot(analysis: Analysis, path: Path) -> Path | None:
    """Zero-shot score against training compute (6·N·D), one colour per model size."""
    points = analysis.points
    column = keys.scale("train_flops")
    if column not in points.columns or "zeroshot" not in points.columns or points["zeroshot"].isna().all():
        return None
    frame = points.dropna(subset=["zeroshot", column])
    frame = frame[frame[column] > 0]
    if frame.empty:
        return None
    fig, (ax,) = _figure(1, width=7.5, height=4.6)
    sizes = sorted(frame["model.size"].unique(), key=lambda s: frame[frame["model.size"] == s][column].min()) \
        if "model.size" in frame.columns else ["all"]
    for size, colour in zip(sizes, _colours(len(sizes))):
        sub = frame if size == "all" else frame[frame["model.size"] == size]
        ax.scatter(sub[column], sub["zeroshot"], color=colour, s=16, alpha=0.8, label=str(size))
    ax.set_xscale("log")
    _chance(ax, list(analysis.tasks))
    ax.set(xlabel="training compute 6·N·D (FLOPs, log scale)", ylabel="zero-shot score (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="model size", title_fontsize=8)
    fig.suptitle("Zero-shot score vs training compute (one point per configuration and seed)", fontsize=11)
    fig.savefig(path)
    return path


def draw_all(analysis: Analysis, out_dir: Path) -> list[tuple[Path, str]]:
    """Every plot the data supports; returns (file, caption) pairs."""
    made = []
    if "zeroshot" in analysis.points.columns and analysis.tasks:
        for key in analysis.axes:
            title = AXIS_BY_KEY[key].title
            made.append((score_vs_axis(analysis, key, out_dir / f"zeroshot_vs_{key}.png"),
                         f"Zero-shot score against {title}"))
            made.append((fit_plot(analysis, key, out_dir / f"fit_{key}.png"),
                         f"Fitted scaling law of the zero-shot score against {title}"))
        path = flops_plot(analysis, out_dir / "zeroshot_vs_flops.png")
        if path is not None:
            made.append((path, "Zero-shot score against training compute"))
    if "size" in analysis.axes and analysis.probes:
        made.append((alignment_plot(analysis, out_dir / "alignment_vs_size.png"),
                     "Alignment after each stage against model size"))
        made.append((retention_plot(analysis, out_dir / "retention_vs_size.png"),
                     "Alignment lost through fine-tuning against model size"))
    return made


__all__ = ["draw_all", "human", "AxisData"]
