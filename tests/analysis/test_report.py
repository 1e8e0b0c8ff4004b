"""The report on a full synthetic grid (no MLflow): answers, fits and plots with known truth."""

import re

import pytest

from xscale.analysis.fits import Estimate
from xscale.analysis.report import q2_sentences, verdict, write_report
from xscale.analysis.runs import runs_frame
from xscale.analysis.scaling import analyse

SECTIONS = (
    "## Summary",
    "## Runs",
    "## Question 1",
    "## Question 2",
    "## Robustness",
    "## Fits table",
    "## Plots",
    "## Excluded trials",
)
PARENT = {"run_id": "p0", "run_ids": ["p0"], "sweep": "grid", "sweep_dir": "/tmp/grid", "spec_name": "grid"}


@pytest.fixture(scope="module")
def grid_report(tmp_path_factory, grid_children):
    # Module-scoped: the full grid with bootstrap refits is the slowest thing here; build it once.
    out = tmp_path_factory.mktemp("grid")
    files = write_report(runs_frame(grid_children), PARENT, out, n_boot=100)
    return out, files, (out / "report.md").read_text()


def slope_in(text: str, subject: str) -> tuple[float, float, float]:
    match = re.search(re.escape(subject) + r" changes by ([+-][\d.]+).*?95% CI \[([+-][\d.]+), ([+-][\d.]+)\]", text)
    assert match, subject
    return tuple(float(g) for g in match.groups())


def test_every_section_and_plot(grid_report):
    out, files, text = grid_report
    for section in SECTIONS:
        assert section in text
    names = {f.name for f in files}
    assert {
        "report.md",
        "runs.csv",
        "fits.csv",
        "heatmap_fraction_x_checkpoint.png",
        "alignment_vs_size.png",
        "retention_vs_size.png",
    } <= names
    for axis in ("size", "data", "pretrain"):
        assert {f"zeroshot_vs_{axis}.png", f"gap_vs_{axis}.png", f"fit_{axis}.png"} <= names
    for name in names:
        assert (out / name).stat().st_size > 0
        if name.endswith(".png"):
            assert f"({name})" in text


def test_answers_recover_the_known_slopes(grid_report, truth):
    text = grid_report[2]
    summary = text.split("## Runs")[0]
    value, low, high = slope_in(summary, "Zero-shot score")
    assert abs(value - truth["data"]) < 0.2 and low > 0
    assert "more intermediate data improves zero-shot transfer" in summary
    value, _, _ = slope_in(summary, "For comparison, the zero-shot score")
    assert abs(value - truth["pretrain"]) < 0.2
    assert "scaling intermediate data gains more per decade than scaling pretraining" in summary
    value, _, _ = slope_in(summary, "Retention of retrieval alignment after intermediate training")
    assert abs(value - truth["retention"]) < 0.02 and "larger models retain more alignment" in summary


def test_axes_with_too_few_values_say_so_instead_of_fitting(grid_report):
    # Three pretraining checkpoints: enough for a line, too few for a three-parameter power law.
    text = grid_report[2]
    assert re.search(r"pretraining tokens \| power law \|.*too few points to fit: 3 distinct x value", text)


def test_a_ci_that_includes_zero_is_inconclusive():
    assert verdict(Estimate(0.4, -0.1, 0.9), "up", "down").startswith("inconclusive")
    assert verdict(Estimate(0.4), "up", "down").startswith("inconclusive")
    assert verdict(Estimate(-0.4, -0.9, -0.1), "up", "down") == "down"


def test_flat_intermediate_data_is_reported_inconclusive(trial, child):
    children = [
        child(*trial("s", fraction, 1.0, seed, data_slope=0.0, noise=1.0), f"t{fraction}-{seed}")
        for fraction in (0.01, 0.1, 1.0)
        for seed in range(3)
    ]
    analysis = analyse(runs_frame(children), n_boot=200)
    slope = analysis.find("zeroshot", "data").params["slope"]
    assert slope.includes_zero
    assert "inconclusive" in dict(q2_sentences(analysis))["data"]
    assert "Pretraining does not vary" in dict(q2_sentences(analysis))["difference"]
