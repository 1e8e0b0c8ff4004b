"""The paper's alternatives run through the one pipeline: multi-task intermediate training with
temperature sampling, continued multilingual MLM, and translated intermediate data."""

import json

import datasets
import pytest
import torch

from xscale.cache import StageCache
from xscale.data import make as make_data
from xscale.keys import TrialPoint
from xscale.pipeline import run_trial
from xscale.spec import parse_spec

pytestmark = pytest.mark.slow


def test_multitask_mlm_translated_intermediate(tmp_path):
    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    spec = parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": "xs", "max_seq_len": 48},
        "pretrain": {"pretrain_tokens": 8000, "max_seq_len": 32, "batch_size": 8},
        "intermediate": {"task": "mnli+sst2", "sampling": "temperature", "mlm_weight": 0.5, "translated": True},
        "target": {"tasks": ["xnli"], "max_eval_examples": 20},
        "probes": {"max_pairs": 20},
        "optim": {"batch_size": 16},
    }, name="options")
    bench = make_data(spec, tmp_path)
    # Translated intermediate data: the English rows plus one translation per other language.
    from xscale.tasks.registry import get_task

    english = len(bench.train(get_task("mnli")))
    assert len(bench.train(get_task("mnli"), translated=True)) == english * len(bench.languages(get_task("xnli")))
    reports = []
    m = run_trial(spec, TrialPoint.from_config(spec.cells()[0]), StageCache(tmp_path / "cache"), bench,
                  lambda metrics, stage, **_: reports.append(stage), lambda msg: None)
    assert reports[:2] == ["pretrain", "intermediate"] and reports[-1] == "target/xnli"
    for key in ("intermediate/mnli/en/accuracy", "intermediate/sst2/en/accuracy", "target/xnli/vso/accuracy"):
        assert key in m
    # Both tasks' (translated) rows count as intermediate examples.
    assert m["scale/intermediate_examples"] == 2 * english * len(bench.languages(get_task("xnli")))


def test_short_sequence_phase_then_full_length(tmp_path):
    """`pretrain.short_seq_len`: the first steps read the corpus packed short (as many tokens per
    step), the rest of the same prefix follows at max_seq_len; the pretraining run uses it."""
    from xscale.mlm import short_batch_size
    from xscale.pipeline import Context, corpus_batches

    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    spec = parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": "xs", "max_seq_len": 32},
        "pretrain": {"pretrain_tokens": 3000, "max_seq_len": 32, "batch_size": 4, "short_seq_len": 8,
                     "short_seq_fraction": 0.5, "mask_prob": 1e-9},  # ~nothing masked: ids stay readable
        "intermediate": {"task": "none"},
        "target": {"tasks": ["udpos"], "max_eval_examples": 10},
        "probes": {"after": []},
    }, name="short")
    bench = make_data(spec, tmp_path)
    ctx = Context(spec, TrialPoint.from_config(spec.cells()[0] | {"optim.lr": 1e-3, "optim.warmup_fraction": 0.1}),
                  StageCache(tmp_path / "cache"), bench, lambda m: None)
    p = spec.pretrain
    assert short_batch_size(p) == 4 * 30 // 6  # 20 sequences of 6 body tokens = 4 of 30
    batches = corpus_batches(ctx, p.max_seq_len, p.batch_size, p.pretrain_tokens, short_steps=3)
    ids = [next(batches)["input_ids"] for _ in range(6)]
    assert [tuple(x.shape) for x in ids] == [(20, 8)] * 3 + [(4, 32)] * 3
    # The short phase and the long one read consecutive parts of the same token stream.
    bodies = [tok for x in ids for row in x.tolist() for tok in row[1:-1]]
    plain = [tok for row in next(corpus_batches(ctx, 182, 1, 180))["input_ids"].tolist() for tok in row[1:-1]]
    assert bodies[:180] == plain

    logs = []
    spec = spec.model_copy(update={"pretrain": p.model_copy(update={"mask_prob": 0.15})})
    run_trial(spec, TrialPoint.from_config(spec.cells()[0]), StageCache(tmp_path / "cache"), bench, lambda m, s, **_: None, logs.append)
    assert any("at 8 tokens per sequence" in line for line in logs)


def test_short_seq_len_must_be_below_max_seq_len():
    with pytest.raises(Exception, match="short_seq_len must be < max_seq_len"):
        parse_spec({"pretrain": {"max_seq_len": 32, "short_seq_len": 32}}, name="bad")


def test_pretrain_cache_key_unchanged_while_short_phase_is_off():
    """Adding the short-sequence and schedule knobs must not invalidate linear-schedule pretraining runs
    cached before them; the warmup-stable-decay schedule (the default) is a different run and keys so."""
    from xscale.pipeline import pretrain_key_config

    off = parse_spec({"pretrain": {"schedule": "linear"}}, name="off").pretrain
    on = parse_spec({"pretrain": {"short_seq_len": 16, "schedule": "linear"}}, name="on").pretrain
    assert set(pretrain_key_config(off)) == {"pretrain_tokens", "batch_size", "max_seq_len", "lr",
                                             "warmup_fraction", "mask_prob"}
    wsd = pretrain_key_config(parse_spec({}, name="wsd").pretrain)
    assert wsd["schedule"] == "wsd" and wsd["decay_fraction"] == 0.2
    assert pretrain_key_config(on)["short_seq_len"] == 16 and pretrain_key_config(on)["short_seq_fraction"] == 0.8


def test_random_init_baselines_of_two_sizes_get_their_own_keys(tmp_path):
    """Checkpoint fraction 0.0 (random init, the baseline of `xscale synth check`; specs cannot ask for
    it): the encoder's key, which every later stage's cache key builds on, names the size, so the
    fine-tuned results of `xs` are never served to `s` (they were, when the key was the seed alone)."""
    from xscale.pipeline import Context, pretrain_stage

    datasets.disable_progress_bars()
    spec = parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": {"grid": ["xs", "s"]}, "max_seq_len": 32},
        "pretrain": {"pretrain_tokens": 3000, "max_seq_len": 32},
        "intermediate": {"task": "none"},
        "target": {"tasks": ["udpos"]},
    }, name="random")
    bench = make_data(spec, tmp_path)
    keys = {}
    for cell in spec.cells():
        ctx = Context(spec, TrialPoint.from_config(cell | {"pretrain.checkpoint_fraction": 0.0}), StageCache(tmp_path / "cache"), bench, lambda msg: None)
        config, _, keys[cell["model.size"]] = pretrain_stage(ctx)
        assert config.hidden_size == {"xs": 64, "s": 128}[cell["model.size"]]
    assert keys["xs"] != keys["s"] and all(bench.key in k for k in keys.values())


def test_after_target_alignment_averages_only_fine_tuned_encoders(tmp_path):
    """Retrieval targets train nothing: their encoder is the one probed after the intermediate stage,
    so it is not probed again and does not dilute `align/target` (the mean over fine-tuned encoders)."""
    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    spec = parse_spec({
        "benchmark": {"preset": "tiny"},
        "model": {"size": "xs", "max_seq_len": 32},
        "pretrain": {"pretrain_tokens": 4000, "max_seq_len": 32, "batch_size": 8},
        "intermediate": {"task": "none"},
        "target": {"tasks": ["udpos", "tatoeba"], "max_eval_examples": 20},
        "probes": {"max_pairs": 20},
        "optim": {"batch_size": 16},
    }, name="probes")
    bench = make_data(spec, tmp_path)
    stages = {}
    m = run_trial(spec, TrialPoint.from_config(spec.cells()[0] | {"optim.lr": 1e-3, "optim.warmup_fraction": 0.1}),
                  StageCache(tmp_path / "cache"), bench, lambda metrics, stage, **_: stages.update({stage: metrics}),
                  lambda msg: None)
    assert "target/tatoeba/clone/accuracy" in m
    entries = [json.loads(f.read_text()) for f in (tmp_path / "cache" / "target").glob("*/entry.json")]
    metrics = {e["config"]["task"]: e["metrics"] for e in entries}
    assert not any(k.startswith("probe/") for k in metrics["tatoeba"])
    # The one fine-tuned encoder's probe is the mean (with tatoeba's unchanged encoder it would not be).
    udpos_cka = metrics["udpos"]["probe/cka/avg/cka"]
    assert udpos_cka != pytest.approx(m["align/intermediate/cka/avg/cka"], abs=1e-9)
    assert m["align/target/cka/avg/cka"] == pytest.approx(udpos_cka)
    assert m["align/retention_target/cka/avg"] == pytest.approx(udpos_cka / m["align/pretrain/cka/avg/cka"])
    # The per-stage compute times add up to the stage total.
    parts = [v for k, v in m.items() if k.startswith("time/compute/")]
    assert {k for k in m if k.startswith("time/compute/")} >= {"time/compute/pretrain_seconds",
                                                               "time/compute/target_seconds"}
    assert sum(parts) == pytest.approx(m["time/stage_compute_seconds"])


def test_precision_is_part_of_every_stage_key_and_tagged(tmp_path):
    """A bf16 trial and a float32 trial of one point share no cache entry, and each run says which it was."""
    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    base = {"benchmark": {"preset": "tiny"}, "model": {"size": "xs", "max_seq_len": 32},
            "pretrain": {"pretrain_tokens": 4000, "max_seq_len": 32, "batch_size": 8},
            "intermediate": {"task": "sst2"}, "target": {"tasks": ["xnli", "tatoeba"], "max_eval_examples": 10},
            "probes": {"max_pairs": 10}, "optim": {"batch_size": 16}}
    cache = StageCache(tmp_path / "cache")
    entries = []
    for precision in ("float32", "bf16"):
        spec = parse_spec({**base, "resources": {"precision": precision}}, name=precision)
        tags = {}
        run_trial(spec, TrialPoint.from_config(spec.cells()[0]), cache, make_data(spec, tmp_path),
                  lambda metrics, stage, **kw: tags.update(kw["tags"]), lambda msg: None)
        assert tags["precision"] == precision
        entries.append({stage.name: len(list(stage.iterdir())) for stage in (tmp_path / "cache").iterdir()})
    assert {"pretrain", "probe", "intermediate", "target"} <= set(entries[0])
    assert entries[1] == {stage: 2 * n for stage, n in entries[0].items()}, entries


def test_gate_zero_shot_skips_only_what_no_fit_can_use(tmp_path):
    """`target.gate_zero_shot`: a target task whose English dev misses the learning gate gets no
    per-language scores and the trial no XTREME score; everything else is what the ungated trial
    reports, to the bit (the skipped evaluation draws no random numbers the next task would see)."""
    datasets.disable_progress_bars()
    torch.set_num_threads(1)

    def spec(gate: bool):
        return parse_spec({
            "benchmark": {"preset": "tiny"},
            "model": {"size": "xs", "max_seq_len": 48},
            "pretrain": {"pretrain_tokens": 8000, "max_seq_len": 32, "batch_size": 8},
            "intermediate": {"task": "none"},
            "target": {"tasks": ["xnli", "udpos", "tatoeba"], "max_train_examples": 200, "max_eval_examples": 20,
                       "gate_zero_shot": gate},
            "probes": {"max_pairs": 20, "after": ["pretrain", "target"]},
            "optim": {"batch_size": 16},
        }, name="gate")

    runs, logs = {}, []
    for gate in (False, True):
        s = spec(gate)
        runs[gate] = run_trial(s, TrialPoint.from_config(s.cells()[0]), StageCache(tmp_path / "cache"),
                               make_data(s, tmp_path), lambda *a, **k: None, logs.append)
    full, gated = runs[False], runs[True]
    # Seeded golden outcome at this size: XNLI-like stays at chance, UD-POS-like learns.
    assert full["learned/target/xnli"] == 0.0 and full["learned/target/udpos"] == 1.0
    assert any("xnli: English dev 35.0 is below the learning gate" in line for line in logs)
    timing = ("time/",)  # the gated trial reuses the cached pretraining and probe
    dropped = {k for k in set(full) - set(gated) if not k.startswith(timing)}
    assert dropped == {k for k in full if k.startswith("target/xnli/")} | {"xtreme/score"}
    assert not set(gated) - set(full)
    assert {k: v for k, v in gated.items() if not k.startswith(timing)} == \
        {k: full[k] for k in gated if not k.startswith(timing)}
    assert "dev/xnli/en/accuracy" in gated and any(k.startswith("target/udpos/") for k in gated)
