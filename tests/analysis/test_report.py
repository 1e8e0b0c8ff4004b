"""The report on synthetic grids with a known truth: the answer on top, wording that follows the
interval, anchors that fail on constructed data, the extrapolation check."""

import re

import pytest

from xscale.analysis.anchors import FAILS, HOLDS, INCONCLUSIVE, verdict
from xscale.analysis.fits import Estimate
from xscale.analysis.report import effect_sentence, write_report
from xscale.analysis.runs import runs_frame
from xscale.analysis.scaling import analyse

PARENT = {"run_id": "p0", "run_ids": ["p0"], "sweep": "grid", "sweep_dir": "/tmp/grid", "spec_name": "grid",
          "tags": {"xscale.git_commit": "0123456789abcdef"}}
PRIMARY = {"Q1": ("align/retention/retrieval/avg", "model.size"), "Q2": ("zeroshot", "intermediate.fraction")}
SECTIONS = ("## Q1", "## Q2", "## Anchors", "## Learning gate", "## Every effect", "## Plots", "## Runs")


def _grid(trial, child, sizes=("xs", "s", "m", "l"), seeds=5, **kwargs):
    return [child(*trial(size, fraction, ckpt, seed, **kwargs), f"t{size}{fraction}{ckpt}{seed}")
            for size in sizes for fraction in (0.01, 0.1, 1.0) for ckpt in (0.3, 1.0) for seed in range(seeds)]


@pytest.fixture(scope="module")
def grid_report(tmp_path_factory, trial, child):
    out = tmp_path_factory.mktemp("grid")
    files = write_report(runs_frame(_grid(trial, child)), PARENT, out, primary=PRIMARY)
    return out, files, (out / "report.md").read_text()


def test_the_answer_is_in_the_first_15_lines(grid_report):
    head = "\n".join(grid_report[2].splitlines()[:15])
    assert re.search(r"\*\*Q1 \(primary\)\*\*: Retention of retrieval alignment after intermediate training changes by "
                     r"\+0\.\d+ per 10× non-embedding parameters \(95% CI \[\+0\.\d+, \+0\.\d+\], 5 seeds\): larger "
                     r"models retain more alignment", head)
    assert "**Q2 (primary)**: Zero-shot score changes by +3.00 points per 10× intermediate-task" in head
    assert "**Anchors**: zero-shot score rises with model size: holds" in head
    assert "**Learning gate**" in head and "**Extrapolation**: fitted without `l`" in head
    assert "seeds 0, 1, 2, 3, 4" in head and "code 0123456789ab" in head


def test_every_section_and_plot(grid_report):
    out, files, text = grid_report
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    names = {f.name for f in files}
    assert {"report.md", "runs.csv", "effects.csv", "alignment_vs_size.png", "retention_vs_size.png",
            "zeroshot_vs_flops.png"} <= names
    for axis in ("size", "data", "pretrain"):
        assert {f"zeroshot_vs_{axis}.png", f"fit_{axis}.png"} <= names
    for name in names:
        assert (out / name).stat().st_size > 0
        if name.endswith(".png"):
            assert f"({name})" in text
    assert "/tmp/" not in text  # no absolute machine paths in a report


def test_the_learning_gate_lists_each_task_once(grid_report):
    text = grid_report[2]
    section = text[text.index("## Learning gate"):text.index("## Every effect")]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    names = [(task.strip(), stage.strip()) for task, stage in rows]
    assert len(names) == len(set(names)) and all("/" not in task for task, _ in names)
    assert ("nli", "target") in names and ("ner", "target") in names


def test_effects_recover_the_known_slopes(grid_report, truth, tmp_path_factory):
    import pandas as pd

    effects = pd.read_csv(grid_report[0] / "effects.csv").set_index(["quantity", "x (per 10x)"])
    assert effects.loc[("zeroshot", "intermediate-task training examples"), "estimate"] == pytest.approx(truth["data"], abs=0.1)
    assert effects.loc[("zeroshot", "pretraining tokens"), "estimate"] == pytest.approx(truth["pretrain"], abs=0.1)
    assert effects.loc[("zeroshot", "non-embedding parameters"), "estimate"] == pytest.approx(truth["size"], abs=0.1)
    primary = effects[effects["role"] == "primary"]
    assert set(primary["question"]) == {"Q1", "Q2"} and (primary["level"] == 0.95).all()
    assert (effects.loc[effects["role"] == "secondary", "level"] > 0.95).all()  # Holm widens them
    assert "Data slope minus pretraining slope" in grid_report[2]


def test_the_extrapolation_miss_is_within_its_interval_on_a_log_linear_truth(trial, child):
    analysis = analyse(runs_frame(_grid(trial, child, seeds=3)), PRIMARY)
    x = analysis.extrapolation
    assert x.largest == "l" and x.decades > 1.5 and x.miss.low <= 0 <= x.miss.high


def test_a_short_ladder_does_not_extrapolate(trial, child):
    analysis = analyse(runs_frame(_grid(trial, child, sizes=("xs", "s", "m"), seeds=3)), PRIMARY)
    assert analysis.extrapolation is None and "spans 1.20 decades" in analysis.extrapolation_note


def test_no_effect_reads_no_evidence_with_the_detectable_effect(trial, child):
    children = [child(*trial("s", fraction, 1.0, seed, data_slope=0.0, noise=1.0), f"t{fraction}-{seed}")
                for fraction in (0.01, 0.1, 1.0) for seed in range(5)]
    analysis = analyse(runs_frame(children), PRIMARY)
    sentence = effect_sentence(analysis.primary_effect("Q2"))
    assert sentence.startswith("No evidence of an effect on the zero-shot score")
    assert "the smallest effect these seeds would detect is ±" in sentence


def test_one_seed_makes_no_claim(tmp_path, trial, child):
    children = [child(*trial(size, fraction, 1.0, 0), f"t{size}{fraction}")
                for size in ("xs", "s") for fraction in (0.01, 0.1, 1.0)]
    runs = runs_frame(children)
    sentence = effect_sentence(analyse(runs, PRIMARY).primary_effect("Q2"))
    assert "from 1 seed: no interval, so no claim" in sentence
    # The whole report is written (as `make report` does on the one-seed main sweep), with no interval.
    write_report(runs, PARENT, tmp_path, primary=PRIMARY)
    effects = (tmp_path / "report.md").read_text().split("## Every effect")[1].split("\n## ")[0]
    assert "| – |" in effects and "[" not in effects


def test_anchor_verdicts():
    assert verdict(Estimate(1.0, 0.2, 1.8), strict=True) == HOLDS
    assert verdict(Estimate(0.5, -0.2, 1.2), strict=True) == INCONCLUSIVE
    assert verdict(Estimate(0.5, -0.2, 1.2), strict=False) == HOLDS
    assert verdict(Estimate(-1.0, -1.8, -0.2), strict=False) == FAILS
    assert verdict(Estimate(1.0), strict=True) == INCONCLUSIVE


def test_failing_size_and_ladder_anchors_lead_the_report(tmp_path, trial, child):
    children = []
    for size, shift in (("xs", 6.0), ("s", 3.0), ("m", 0.0)):
        for seed in range(5):
            params, metrics = trial(size, 1.0, 1.0, seed)
            # Constructed failures: bigger models transfer worse, and `inv` beats `sov`.
            for key in list(metrics):
                if key.startswith("target/") and "/en/" not in key:
                    metrics[key] += shift - 5.0 * {"xs": 0.0, "s": 0.6, "m": 1.2}[size]
                if key.startswith("target/") and "/inv/" in key:
                    metrics[key] += 10.0
            children.append(child(params, metrics, f"{size}{seed}"))
    write_report(runs_frame(children), PARENT, tmp_path, primary=PRIMARY)
    lines = (tmp_path / "report.md").read_text().splitlines()
    assert lines[2].startswith("- **ANCHOR FAILED: zero-shot score rises with model size**")
    assert any(line.startswith("- **ANCHOR FAILED: language ladder sov > inv**") for line in lines[2:5])


@pytest.mark.parametrize("held_back", [False, True], ids=["scored", "gate_zero_shot"])
def test_unlearned_target_tasks_are_listed_on_top_and_a_primary_on_nothing_says_so(tmp_path, trial, child, held_back):
    children = []
    for fraction in (0.01, 0.1, 1.0):
        for seed in range(3):
            params, metrics = trial("s", fraction, 1.0, seed)
            metrics = {k: v for k, v in metrics.items() if "/ner/" not in k}
            metrics = {k.replace("/nli/", "/xnli/"): v for k, v in metrics.items()}
            metrics["dev/xnli/en/accuracy"] = 34.0  # at chance: did not learn
            if held_back:  # `target.gate_zero_shot`: the gate is logged, no zero-shot score and no XTREME score
                metrics = {k: v for k, v in metrics.items() if not k.startswith(("target/xnli/", "xtreme/"))}
                metrics["learned/target/xnli"] = 0.0
            children.append(child(params, metrics, f"{fraction}{seed}"))
    write_report(runs_frame(children), PARENT, tmp_path, primary=PRIMARY)
    head = "\n".join((tmp_path / "report.md").read_text().splitlines()[:15])
    assert "**Did not learn** (kept out of fits and aggregates): xnli (target) in 9 of 9 trials (English dev 34.0-34.0 in those)" in head
    assert re.search(r"\*\*Q2 \(primary: `zeroshot` vs `intermediate.fraction`\)\*\*: not answered: no target task "
                     r"learned in English in every trial \(did not learn: xnli\)", head)


def test_the_intermediate_task_table_is_a_paired_difference_to_none(tmp_path, trial, child):
    children = []
    for size in ("s", "m"):
        for seed in range(5):
            children.append(child(*trial(size, 0.0, 1.0, seed, task="none"), f"none{size}{seed}"))
            children.append(child(*trial(size, 1.0, 1.0, seed, task="mnli", data_slope=0.0, zs_bonus=2.0),
                                  f"mnli{size}{seed}"))
    write_report(runs_frame(children), PARENT, tmp_path, primary=PRIMARY)
    text = (tmp_path / "report.md").read_text()
    table = text.split("## Intermediate tasks against none")[1].split("##")[0]
    row = next(line for line in table.splitlines() if line.startswith("| mnli |"))
    assert row.startswith("| mnli | +2.0") or row.startswith("| mnli | +1.9"), row


def test_plot_subtitles_say_what_is_drawn():
    import pandas as pd

    from xscale.analysis.plots import _subtitle

    five, one = pd.DataFrame({"seed": range(5)}), pd.DataFrame({"seed": [0]})
    assert _subtitle(five, fit=True) == ("points: mean over 5 seeds, with 95% t interval over seeds; "
                                         "line and band: the fit and its 95% interval")
    assert _subtitle(five) == "lines: mean over 5 seeds; bands: 95% t interval over seeds"
    assert _subtitle(one) == "lines: mean over 1 seed; one seed: no interval bands"


def test_runs_at_different_precisions_are_flagged(tmp_path, trial, child):
    runs = _grid(trial, child, sizes=("xs", "s"), seeds=2)
    for i, run in enumerate(runs):
        run["tags"]["precision"] = "bf16" if i % 2 else "float32"
    write_report(runs_frame(runs), PARENT, tmp_path, primary=PRIMARY)
    assert "**Trials ran at different precisions** (" in (tmp_path / "report.md").read_text()
    for run in runs:
        run["tags"]["precision"] = "bf16"
    write_report(runs_frame(runs), PARENT, tmp_path / "one", primary=PRIMARY)
    text = (tmp_path / "one" / "report.md").read_text()
    assert "different precisions" not in text and "- forward passes in bf16 (`resources.precision`)" in text
