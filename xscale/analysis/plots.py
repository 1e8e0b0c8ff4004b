"""Report figures, drawn on bare Agg figures (no pyplot global state, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from xscale.analysis.fits import ALPHA_BOUNDS, Fit, log_linear, power_law
from xscale.analysis.table import SHORT_NAMES, curve, fmt_value, marginal, series_order, value_order

BAND_NOTE = "lines: mean over seeds; bands: ±1 std over seeds"
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
    fig = Figure(figsize=(width * cols, height * rows + 0.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def _log_x(ax, xs) -> None:
    ax.set_xscale("log")
    xs = sorted(set(float(x) for x in xs))
    # With few points the default log ticks often show one label or none; label the data x values.
    if len(xs) <= MAX_LABELLED_TICKS:
        ax.set_xticks(xs)
        ax.set_xticklabels([human(x) for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())


def _line(ax, stats: pd.DataFrame, x: str, label: str, **style) -> None:
    stats = stats.sort_values(x)
    mean, std = stats["mean"].to_numpy(float), stats["std"].to_numpy(float)
    style.setdefault("marker", "o")
    (line,) = ax.plot(stats[x], mean, label=label, **style)
    if np.isfinite(std).any():
        ax.fill_between(
            stats[x], mean - np.nan_to_num(std), mean + np.nan_to_num(std), color=line.get_color(), alpha=0.18
        )


def _series_panel(ax, frame: pd.DataFrame, value: str) -> None:
    stats = curve(frame.dropna(subset=[value]), value, ["series", "x"])
    for i, series in enumerate(series_order(frame)):
        if series in set(stats["series"]):
            # Colours and markers both vary, so lines stay apart in greyscale and beyond ten colours.
            _line(
                ax, stats[stats["series"] == series], "x", series, color=f"C{i % 10}", marker=MARKERS[i % len(MARKERS)]
            )


def _finish(fig: Figure, path: Path, title: str) -> Path:
    fig.suptitle(f"{title}\n({BAND_NOTE})", fontsize=11)
    fig.savefig(path)
    return path


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _shared_legend(fig: Figure, ax, title: str) -> None:
    """One legend under the panels: every panel draws the same lines, and inside one it hides data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(3, len(handles)), fontsize=8,
            title=title, title_fontsize=8,
        )


def score_vs_axis(frame, tasks: dict[str, str], x_label: str, title: str, path: Path) -> Path:
    """Zero-shot score against a scaling axis: mean over tasks first, then one panel per task."""
    panels = [("zeroshot", "mean over target tasks", "zero-shot score (points)")]
    if len(tasks) > 1:
        panels += [(f"zeroshot/{t}", t, f"zero-shot {m} (points)") for t, m in tasks.items()]
    fig, axes = _figure(len(panels))
    for ax, (value, panel_title, y_label) in zip(axes, panels):
        _series_panel(ax, frame, value)
        _log_x(ax, frame["x"])
        ax.set(title=panel_title, xlabel=f"{x_label} (log scale)", ylabel=y_label)
        ax.grid(alpha=0.3)
    _shared_legend(fig, axes[0], "other axes")
    return _finish(fig, path, f"Zero-shot transfer (mean over non-English languages) vs {title}")


def series_vs_axis(frame, value: str, y_label: str, x_label: str, title: str, path: Path) -> Path:
    """One quantity against a scaling axis, one line per combination of the other axes."""
    fig, (ax,) = _figure(1, width=7.5, height=4.6)
    _series_panel(ax, frame, value)
    _log_x(ax, frame["x"])
    ax.set(xlabel=f"{x_label} (log scale)", ylabel=y_label)
    ax.grid(alpha=0.3)
    _shared_legend(fig, ax, "other axes")
    return _finish(fig, path, title)


def fit_curves(stats: pd.DataFrame, line: Fit | None, power: Fit | None, x_label: str, title: str, path: Path) -> Path:
    """A main-effect curve (columns x, mean, std) with its log-linear and power-law fits drawn over it,
    or, where a fit is missing, the reason written in the panel.
    """
    fig, (ax,) = _figure(1, width=7.5, height=4.6)
    _line(ax, stats, "x", "data: mean over the other axes", color="black", linestyle="none")
    xs = np.geomspace(stats["x"].min(), stats["x"].max(), 200)
    missing = []
    if line is not None and line.ok and "intercept" in line.params:
        slope = line.params["slope"].value
        y = log_linear(xs, line.params["intercept"].value, slope)
        ax.plot(xs, y, color="C0", label=f"log-linear: {slope:+.2f} points per 10×")
    else:
        missing.append(f"log-linear: {line.note if line is not None else 'not fitted'}")
    if power is not None and power.ok:
        a, b, alpha = (power.params[k].value for k in ("a", "b", "alpha"))
        saturating = alpha > ALPHA_BOUNDS[0] * 1.01
        label = f"power law: alpha={alpha:.2g}, asymptote {a:.1f}" if saturating else "power law: no saturation seen"
        ax.plot(xs, power_law(xs / stats["x"].min(), a, b, alpha), color="C1", ls="--", label=label)
    else:
        missing.append(f"power law: {power.note if power is not None else 'not fitted'}")
    if missing:
        ax.text(0.02, 0.98, "\n".join(missing), transform=ax.transAxes, va="top", fontsize=8, color="dimgrey")
    _log_x(ax, stats["x"])
    ax.set(xlabel=f"{x_label} (log scale)", ylabel="zero-shot score (points)")
    ax.grid(alpha=0.3)
    _legend(ax)
    return _finish(fig, path, title)


def marginal_lines(
    frame,
    lines: list[tuple[str, str]],
    panels: list[tuple[str, str, list[int]]],
    x_label: str,
    title: str,
    path: Path,
    ref_line: float | None = None,
) -> Path:
    """Main-effect curves against x (mean over the other axes per seed); panels select lines by index."""
    fig, axes = _figure(len(panels))
    for ax, (panel_title, y_label, indices) in zip(axes, panels):
        for i in indices:
            value, label = lines[i]
            if value in frame.columns and frame[value].notna().any():
                _line(ax, marginal(frame.dropna(subset=[value]), "x", value), "x", label)
        if ref_line is not None:
            ax.axhline(ref_line, color="grey", lw=0.8, ls=":")
        _log_x(ax, frame["x"])
        ax.set(title=panel_title, xlabel=f"{x_label} (log scale)", ylabel=y_label)
        ax.grid(alpha=0.3)
        _legend(ax)
    return _finish(fig, path, title)


def heatmap(points: pd.DataFrame, path: Path) -> Path:
    """Mean zero-shot score over intermediate.fraction x pretrain.checkpoint_fraction, a panel per model size."""
    rows_key, cols_key = "intermediate.fraction", "pretrain.checkpoint_fraction"
    sizes = value_order(points, "model.size") if "model.size" in points.columns else [None]
    fig, axes = _figure(len(sizes), width=5.0, height=4.2)
    row_values = value_order(points, rows_key)
    col_values = value_order(points, cols_key)
    finite = points["zeroshot"].dropna()
    vmin, vmax = (finite.min(), finite.max()) if len(finite) else (0, 1)
    for ax, size in zip(axes, sizes):
        sub = points if size is None else points[points["model.size"] == size]
        table = sub.groupby([rows_key, cols_key])["zeroshot"].mean().unstack(cols_key)
        table = table.reindex(index=row_values, columns=col_values)
        image = ax.imshow(table.to_numpy(float), origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(table.to_numpy(float)):
            if np.isfinite(v):
                colour = "black" if v > (vmin + vmax) / 2 else "white"
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=9, color=colour)
        ax.set_xticks(range(len(col_values)), [fmt_value(v) for v in col_values])
        ax.set_yticks(range(len(row_values)), [fmt_value(v) for v in row_values])
        ax.set(
            xlabel="pretrain.checkpoint_fraction (fraction of pretraining)",
            ylabel="intermediate.fraction (fraction of task data)",
            title="all sizes" if size is None else f"{SHORT_NAMES['model.size']}={size}",
        )
        fig.colorbar(image, ax=ax, label="zero-shot score (points)")
    fig.suptitle(
        "Mean zero-shot score (over seeds, tasks and\nnon-English languages); blank: no finished trial", fontsize=11
    )
    fig.savefig(path)
    return path
