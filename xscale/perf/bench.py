"""`make bench`: performance figures, each a ratio of two things measured in the same run.

    python -m xscale.perf [--smoke] [--out sweeps/bench/results.json] [--only NAME ...]

Figures: the stage compute of one cached-pretraining trial against the baseline commit, in float32 and
with the bf16 opt-in, and the share of it spent on target tasks that missed the learning gate
(`trial_cost`, only when asked for); bf16 against float32 over paired whole-trial seeds (`precision`, only
when asked for); training-loop throughput against a bare PyTorch loop (per size); on a CUDA device, XLM-R
Base MLM throughput (eager and compiled) and MFU against the bf16 peak; CPU efficiency
(6·N·tokens/s over this machine's measured fp32 matmul peak); padding waste of the synthetic tasks'
batches; per-trial overhead of smoke trials; stage cache speed-up of a whole sweep; parallelism
(N trials x 1 thread against 1 trial x N threads); sweep cost against the number of grid cells.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from xscale import keys, models
from xscale.keys import AXIS_FIELDS
from xscale.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]


def _say(message: str) -> None:
    """One progress line on stderr (the figures' table goes to stdout at the end)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ training loop


def _mlm_like_batches(vocab: int, batch: int, seq: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    while True:
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        yield {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 3, (batch,), generator=g)}


def bare_loop(model: torch.nn.Module, batches, steps: int, lr: float, compiled: bool = False) -> float:
    """The reference: forward, backward, step and nothing else (on CUDA: bf16 autocast and fused
    AdamW, as xscale's loop); returns seconds."""
    cuda = next(model.parameters()).is_cuda
    opt = torch.optim.AdamW(model.parameters(), lr=lr, fused=cuda)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    fwd = torch.compile(model) if compiled else model
    model.train()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        with autocast:
            loss = fwd(**next(batches)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def loop_throughput(sizes: tuple[str, ...], steps: int, batch: int = 32, seq: int = 64, vocab: int = 6000,
                    repeats: int = 3) -> list[dict]:
    """xscale's loop against the bare loop on the same model, batch and optimizer; best of `repeats`
    interleaved runs of each, so both see the same machine state."""
    rows = []
    for size in sizes:
        _say(f"training loop, size {size}: xscale and bare loops, {repeats} runs each")
        cfg = models.scratch_config(size, vocab, seq)
        ours, bare = [], []
        for r in range(repeats):
            m = models.build(cfg, "pair_classification", num_labels=3, seed=r)
            res = train(m, _mlm_like_batches(vocab, batch, seq, r), TrainConfig(steps=steps, lr=1e-4, log_every=10**9))
            ours.append(res.seconds)
            m = models.build(cfg, "pair_classification", num_labels=3, seed=r)
            bare.append(bare_loop(m, _mlm_like_batches(vocab, batch, seq, r), steps, 1e-4))
        tokens = steps * batch * seq
        n = models.count_params(cfg)["non_embedding_params"]
        rows.append({"size": size, "tokens_per_s": tokens / min(ours), "bare_tokens_per_s": tokens / min(bare),
                     "ratio": min(bare) / min(ours), "non_embedding_params": n,
                     "model_flops_per_s": 6 * n * tokens / min(ours)})
    return rows


def matmul_peak(n: int = 1024, repeats: int = 10) -> float:
    """This machine's fp32 matmul FLOP/s with torch's current thread count (best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


# ------------------------------------------------------------------------------ GPU

# XLM-R's architectures (Conneau et al. 2020), for throughput on random weights.
XLMR_ARCH = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
# Dense bf16 peak of the datasheet (NVIDIA, SXM parts), matched on the device name.
BF16_PEAK = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12, "L4": 121e12, "A10G": 70e12}


def xlmr_config(arch: str, seq: int):
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(vocab_size=250002, max_position_embeddings=max(514, seq + 2), type_vocab_size=1,
                            layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2, **XLMR_ARCH[arch])


def mlm_flops_per_token(model: torch.nn.Module, config, seq: int) -> float:
    """Training FLOPs per token: 6 x (matmul weights, the tied output projection counted as a matmul)
    + 12 x layers x hidden x sequence for attention scores and their weighted sums."""
    tables = {id(p) for p in model.base_model.embeddings.parameters()}  # lookups, not matmuls
    matmul = sum(p.numel() for p in model.parameters() if p.ndim == 2 and id(p) not in tables)
    decoder = model.get_output_embeddings()
    if decoder is not None and id(decoder.weight) in tables:  # tied to the word embeddings
        matmul += decoder.weight.numel()
    return 6 * matmul + 12 * config.num_hidden_layers * config.hidden_size * seq


def _mlm_batches_on(dev, vocab: int, batch: int, seq: int, n: int = 4, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        labels = torch.where(torch.rand(batch, seq, generator=g) < 0.15, ids, torch.full_like(ids, -100))
        out.append({k: v.to(dev) for k, v in
                    {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}.items()})
    return out


def _cycle(items):
    while True:
        yield from items


def bf16_matmul_peak(n: int = 8192, repeats: int = 10) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def gpu_throughput(arch: str = "base", batch: int = 32, seq: int = 512, steps: int = 20, warmup: int = 5,
                   modes: tuple[bool, ...] = (False, True)) -> dict:
    """MLM training throughput of an XLM-R architecture (random init) on this CUDA device: xscale's
    loop against the bare GPU loop, eager and compiled, and MFU against the bf16 peak."""
    dev = torch.device("cuda")
    config = xlmr_config(arch, seq)
    name = torch.cuda.get_device_name(dev)
    datasheet = next((v for k, v in BF16_PEAK.items() if k in name), None)
    measured = bf16_matmul_peak()
    rows, params = [], 0
    for compiled in modes:
        model = models.build(config, "mlm", seed=0).to(dev)
        params = sum(p.numel() for p in model.parameters())
        flops = mlm_flops_per_token(model, config, seq)
        batches = _cycle(_mlm_batches_on(dev, config.vocab_size, batch, seq))
        cfg = TrainConfig(steps=warmup, lr=1e-4, log_every=10**9, compile=compiled)
        t0 = time.perf_counter()
        train(model, batches, cfg)  # warm-up: cuDNN/cuBLAS choices and, when compiled, the compilation
        first = time.perf_counter() - t0
        ours = train(model, batches, TrainConfig(steps=steps, lr=1e-4, log_every=10**9, compile=compiled)).seconds
        bare_loop(model, batches, warmup, 1e-4, compiled)
        bare = bare_loop(model, batches, steps, 1e-4, compiled)
        tokens = steps * batch * seq
        tps = tokens / ours
        rows.append({"compile": compiled, "tokens_per_s": tps, "bare_tokens_per_s": tokens / bare, "ratio": bare / ours,
                     "flops_per_token": flops, "model_flops_per_s": flops * tps,
                     "mfu_datasheet": flops * tps / datasheet if datasheet else None,
                     "mfu_measured_peak": flops * tps / measured, "warmup_s": first,
                     "max_memory_gib": torch.cuda.max_memory_allocated(dev) / 2**30})
        del model
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    return {"device": name, "arch": f"xlm-roberta-{arch}", "batch": batch, "seq": seq, "steps": steps,
            "params": params,
            "bf16_peak_datasheet": datasheet, "bf16_matmul_measured": measured, "torch": torch.__version__, "rows": rows}


# ------------------------------------------------------------------------------ data pipeline


def padding_waste(preset: str, tasks: tuple[str, ...], batch_size: int = 32, max_seq_len: int = 64) -> list[dict]:
    """Padded share of processed token slots on the synthetic tasks, with and without length grouping."""
    import datasets

    from xscale import formats, synth
    from xscale.tasks.registry import get_task

    datasets.disable_progress_bars()
    _say(f"padding waste on the {preset} preset: {', '.join(tasks)}")
    bench = synth.ensure(Path(tempfile.gettempdir()) / "xscale-bench", preset=preset, seed=0)
    tok = synth.load_tokenizer(bench)
    rows = []
    for name in tasks:
        task = get_task(name)
        raw = synth.load_task(bench, name)["train"]
        enc = formats.encode(task, raw, tok, max_seq_len, train=True)
        rows.append({"task": name,
                     "grouped": formats.padding_stats(enc, batch_size, tok.pad_token_id, group_by_length=True),
                     "random": formats.padding_stats(enc, batch_size, tok.pad_token_id, group_by_length=False)})
    return rows


# ------------------------------------------------------------------------------ sweeps


def _variant(spec_path: Path, out_dir: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """A copy of a spec with `edit` applied to its YAML mapping."""
    import yaml

    data = yaml.safe_load(spec_path.read_text())
    data["name"] = name
    edit(data)
    path = out_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timed_sweep(spec: Path, work: Path, *extra: str) -> dict:
    """Run `xscale sweep` in a subprocess; wall time and what MLflow recorded."""
    from xscale import sweepfolder
    from xscale.spec import load_spec
    from xscale.tracking import Tracker

    spec_obj = load_spec(spec)
    out = work / spec_obj.name
    uri = f"sqlite:///{work / 'mlflow.db'}"
    _say(f"sweep {spec_obj.name}: {len(spec_obj.cells())} cells{', no cache' if '--no-cache' in extra else ''} ...")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xscale.cli", "sweep", str(spec), "--out", str(out),
                           "--tracking-uri", uri, *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep {spec.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    _say(f"sweep {spec_obj.name} done in {wall:.0f} s")
    record = sweepfolder.read(str(out))
    runs = Tracker(uri, spec_obj.experiment_name, spec_obj.name, str(out.resolve()), record.sweep_id).runs()
    trials = []
    for r in runs:
        m = r.data.metrics
        trials.append({"wall_s": (r.info.end_time - r.info.start_time) / 1000,
                       "compute_s": m.get("time/stage_compute_seconds", 0.0),
                       "pretrain_runs": m.get("cache/computed/pretrain", 0.0),
                       "cell": {k: v for k, v in r.data.params.items() if k in AXIS_FIELDS}})
    return {"wall_s": wall, "trials": trials, "cells": len(spec_obj.cells()),
            "pretrain_runs": sum(t["pretrain_runs"] for t in trials)}


def _shrink(d: dict) -> None:
    """The smoke bench's sweep: one size, two cells, one target task, a few dozen examples."""
    d["model"]["size"] = {"grid": ["xs"]}
    d["intermediate"]["fraction"] = {"grid": [1.0]}
    d["pretrain"].update(pretrain_tokens=10000, checkpoint_fraction={"grid": [0.5, 1.0]})
    d["target"].update(tasks=["xnli"], max_eval_examples=30)
    d["probes"] = {"max_pairs": 30}


SWEEP_FIGURES = ("overhead", "cache", "parallelism", "cost_scaling")


def sweep_figures(spec: Path, smoke: bool, wanted: tuple[str, ...] = SWEEP_FIGURES, keep: Path | None = None) -> dict:
    """Per-trial overhead, the cache speed-up, parallelism and cost against grid size (those `wanted`).

    The sweeps run in a temporary folder, or in `keep` (left there: `xscale report KEEP/<sweep name>`)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return _sweep_figures(spec, smoke, wanted, keep.resolve())
    with tempfile.TemporaryDirectory(prefix="xscale-bench-") as tmp:
        return _sweep_figures(spec, smoke, wanted, Path(tmp))


def _sweep_figures(spec: Path, smoke: bool, wanted: tuple[str, ...], work: Path) -> dict:
    cache = ["--cache-dir", str(work / "cache")]
    figs: dict = {}
    if "overhead" not in wanted and "cache" not in wanted:
        return _scale_figures(spec, smoke, wanted, work)
    cached = timed_sweep(spec, work, *cache)
    figs["sweep_wall_s"] = cached["wall_s"]
    timed = [t for t in cached["trials"] if t["wall_s"] > 0]
    overheads = [(t["wall_s"] - t["compute_s"]) / t["wall_s"] for t in timed]
    # The first sweep fills the cache; a trial's compute is what its own stages cost.
    worst = timed[overheads.index(max(overheads))]
    figs["overhead"] = {"median": float(sorted(overheads)[len(overheads) // 2]), "max": max(overheads),
                        "worst_trial": {k: worst[k] for k in ("wall_s", "compute_s", "cell")}, "target": "<= 0.10"}
    if "cache" not in wanted:
        return {**figs, **_scale_figures(spec, smoke, wanted, work)}
    nocache = timed_sweep(_variant(spec, work, "nocache", lambda d: None), work, "--no-cache",
                          "--cache-dir", str(work / "cache-off"))
    figs["cache"] = {"with_cache_s": cached["wall_s"], "no_cache_s": nocache["wall_s"],
                     "speedup": nocache["wall_s"] / cached["wall_s"],
                     "pretrain_runs_cached": cached["pretrain_runs"], "pretrain_runs_no_cache": nocache["pretrain_runs"],
                     "target": ">= 4x"}
    return {**figs, **_scale_figures(spec, smoke, wanted, work)}


def _scale_figures(spec: Path, smoke: bool, wanted: tuple[str, ...], work: Path) -> dict:
    figs: dict = {}
    if "parallelism" in wanted:
        figs["parallelism"] = _parallelism(spec, work)
    if "cost_scaling" in wanted:
        figs["cost_scaling"] = _cost_scaling(spec, smoke, work)
    return figs


def _parallelism(spec: Path, work: Path) -> dict:
    cores = os.cpu_count() or 1

    def threads(n_threads: int):
        def edit(d):
            d.setdefault("resources", {}).update(cpus_per_trial=n_threads, torch_threads=n_threads)
        return edit

    many = timed_sweep(_variant(spec, work, "par_trials", threads(1)), work, "--cache-dir", str(work / "c1"))
    wide = timed_sweep(_variant(spec, work, "par_threads", threads(cores)), work, "--cache-dir", str(work / "c2"))
    return {"cells_per_hour_n_trials_x_1_thread": 3600 * many["cells"] / many["wall_s"],
            "cells_per_hour_1_trial_x_n_threads": 3600 * wide["cells"] / wide["wall_s"],
            "cores": cores,
            "default": "trials x 1 thread" if many["wall_s"] <= wide["wall_s"] else "1 trial x N threads"}


def _cost_scaling(spec: Path, smoke: bool, work: Path) -> list[dict]:
    sizes = (1, 2) if smoke else (1, 6, 18)
    # A grid of n cells: the first values of each axis, sizes first.
    scaling = []
    for n in sizes:
        def first_cells(d, n=n):
            fr = d["intermediate"]["fraction"]["grid"]
            ck = d["pretrain"]["checkpoint_fraction"]["grid"]
            sz = d["model"]["size"]["grid"]
            # Shrink the grid to n cells, keeping as many sizes as possible.
            sz_n = sz[: max(1, min(len(sz), n))]
            rest = max(1, n // len(sz_n))
            fr_n = fr[: max(1, min(len(fr), rest))]
            ck_n = ck[: max(1, rest // len(fr_n))]
            d["model"]["size"]["grid"], d["intermediate"]["fraction"]["grid"] = sz_n, fr_n
            d["pretrain"]["checkpoint_fraction"]["grid"] = ck_n
        r = timed_sweep(_variant(spec, work, f"cells{n}", first_cells), work, "--cache-dir", str(work / f"s{n}"))
        scaling.append({"cells": r["cells"], "wall_s": r["wall_s"]})
    return scaling


# ------------------------------------------------------------------------------ ASHA


def asha_savings(spec: Path, work: Path) -> dict:
    """The same sweep with `scheduler: fifo` and with `asha` (per-cell halving after the intermediate
    stage), sharing one cache: how many trials stopped before their target stages, and whether each
    cell selects the same trial (the report's selection: best complete trial by English dev)."""
    from xscale.analysis.runs import load_runs
    from xscale.analysis.table import select_best
    from xscale.spec import load_spec

    cache = ["--cache-dir", str(work / "cache-asha")]
    fifo = _variant(spec, work, "asha_off", lambda d: d.setdefault("scheduler", {}).update(kind="fifo"))
    asha = _variant(spec, work, "asha_on", lambda d: d.setdefault("scheduler", {}).update(kind="asha"))
    selected, stopped, walls = {}, 0, {}
    for name, path in (("fifo", fifo), ("asha", asha)):
        walls[name] = timed_sweep(path, work, *cache)["wall_s"]
        _, runs = load_runs(f"sqlite:///{work / 'mlflow.db'}", str(work / load_spec(path).name))
        best, _ = select_best(runs)
        selected[name] = {cell: float(lr) for cell, lr in zip(best["cell"], best["optim.lr"])}
        if name == "asha":
            stopped = int((runs["stopped_after"].fillna("") != "").sum())
    targets = len(load_spec(spec).target.tasks)
    return {"trials": len(selected["fifo"]) * load_spec(spec).search.trials_per_cell, "stopped": stopped,
            "target_stages_saved": stopped * targets, "fifo_s": walls["fifo"], "asha_s": walls["asha"],
            "same_selection": selected["fifo"] == selected["asha"],
            "cells_selecting_differently": sorted(c for c in selected["fifo"]
                                                  if selected["fifo"][c] != selected["asha"].get(c))}


# ------------------------------------------------------------------------------ trial cost

BASELINE = "57e1bf4"
"""The commit whose trial cost `trial_cost` compares against (main before the evaluation side was reworked)."""

_TRIAL_RUNNER = {
    # The same trial through each version's own API: the first cell of the spec, no Ray, one thread.
    "baseline": "from xscale.pipeline import make_benchmark as make_data, run_trial\n"
                "point = lambda c: c\n",
    "new": "from xscale.data import make as make_data\nfrom xscale.pipeline import run_trial\n"
           "from xscale.keys import TrialPoint\npoint = TrialPoint.from_config\n",
}
_TRIAL_BODY = """
import json, resource, sys, time
import datasets, torch
from pathlib import Path
from xscale.cache import StageCache
from xscale.spec import load_spec
datasets.disable_progress_bars(); torch.set_num_threads(1)
spec, root = load_spec(sys.argv[1]), Path(sys.argv[2])
data = make_data(spec, root)
m = run_trial(spec, point(spec.cells()[0]), StageCache(root / "stages"), data, lambda *a, **k: None, lambda msg: None)
m["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
m["precision"] = getattr(spec.resources, "precision", "float32")
try:  # the resolved precision, where the version has one
    from xscale.train import device, resolve_precision
    m["precision"] = resolve_precision(m["precision"], device())
except ImportError:
    pass
print("RESULT " + json.dumps(m))
"""


COST_TASKS: tuple[str, ...] = ("xnli", "pawsx", "udpos", "panx", "xquad", "tatoeba", "bucc")
"""The target tasks of `trial_cost`'s spec by default, and those it allows: the synthetic target tasks the
baseline commit has (spelled out rather than read from `xscale.synth`, which may gain tasks it lacks)."""


def _trial_spec(work: Path, size: str, smoke: bool, version: str, seed: int = 0,
                tasks: tuple[str, ...] = COST_TASKS) -> Path:
    """One cell of the main sweep's old shape (a spec both versions accept); the new version keeps the
    baseline's pretraining schedule and probes, so both compute the same thing. `seed` is the trial's
    (pretraining included); the benchmark's data stay those of seed 0. `tasks` are the target tasks."""
    import yaml

    data = {
        "benchmark": {"kind": "synthetic", "preset": "tiny" if smoke else "default", "seed": 0},
        "model": {"size": size, "max_seq_len": 64},
        "pretrain": {"pretrain_tokens": 20000 if smoke else 2600000, "checkpoint_fraction": 1.0, "batch_size": 32,
                     "max_seq_len": 64, "short_seq_len": 16, "short_seq_fraction": 0.8, "lr": 1e-3,
                     "warmup_fraction": 0.1},
        "intermediate": {"task": "sst2", "fraction": 1.0, "epochs": 2, "max_train_examples": 4000},
        "target": {"tasks": list(tasks), "epochs": 1,
                   "max_train_examples": 100 if smoke else 1000, "max_eval_examples": 300,
                   "freeze_embeddings": True},
        "probes": {"max_pairs": 200},
        "optim": {"lr": 1e-3, "warmup_fraction": 0.1, "batch_size": 32},
        "seed": seed,
    }
    if version.startswith("new"):
        data["pretrain"]["schedule"] = "linear"
        data["probes"].update(kinds=["retrieval", "cka"], layers=["last"], average_excludes=[], random_reference=False)
    if "bf16" in version:
        data["resources"] = {"precision": "bf16"}
    if version.endswith("_gated"):
        data["target"]["gate_zero_shot"] = True
    path = work / f"cost-{version}-{size}{f'-seed{seed}' if seed else ''}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _start_trial(src: Path, version: str, spec: Path, root: Path) -> subprocess.Popen:
    runner = _TRIAL_RUNNER["baseline" if version == "baseline" else "new"]
    return subprocess.Popen([sys.executable, "-c", runner + _TRIAL_BODY, str(spec), str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(src)}, cwd=src)


def _trial_result(version: str, proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{version} trial failed:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _pretrain_loss(root: Path) -> float:
    """Final MLM loss of the one pretraining run under `root` (both versions write it to entry.json)."""
    (entry,) = (root / "stages" / "pretrain").glob("*/entry.json")
    return json.loads(entry.read_text())["final_loss"]


def trial_cost(smoke: bool, baseline: str = BASELINE, tasks: tuple[str, ...] = COST_TASKS) -> dict:
    """Stage compute of one trial whose pretraining is cached, per size, on the baseline commit and on this
    code (float32, and bf16 as `resources.precision: bf16`), in the same run: each version pretrains once
    (untimed), then runs the trial again with every other stage recomputed. Also the largest zero-shot or
    probe difference to the baseline, the largest difference bf16 makes, and each pretraining's final loss.
    `new_gated` is this code with `target.gate_zero_shot` on the float32 pretraining (a copy of `new`'s),
    `new_bf16_gated` both opt-ins on the bf16 pretraining (a copy of `new_bf16`'s). `tasks` are the spec's
    target tasks (the shipped studies train udpos, panx and tatoeba)."""
    sizes = ("xs",) if smoke else ("xs", "s", "m")
    out: dict = {"baseline_commit": baseline, "tasks": list(tasks)}
    with tempfile.TemporaryDirectory(prefix="xscale-bench-cost-") as tmp:
        work = Path(tmp)
        base_src = work / "baseline-src"
        base_src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive.stdout, check=True)
        # new_bf16: this code with `resources.precision: bf16` (pretraining included), the opt-in on a CPU.
        versions = (("baseline", base_src), ("new", ROOT), ("new_bf16", ROOT), ("new_gated", ROOT),
                    ("new_bf16_gated", ROOT))
        # The gated variants reuse a pretraining: the gate is a target field.
        pretrained_by = {"new_gated": "new", "new_bf16_gated": "new_bf16"}
        for size in sizes:
            row = {}
            metrics = {}
            runs = {v: (src, _trial_spec(work, size, smoke, v, tasks=tasks), work / f"{v}-{size}")
                    for v, src in versions}
            # The versions pretrain side by side (untimed), then each timed trial runs alone.
            _say(f"trial cost, size {size}: pretraining every version side by side (untimed) ...")
            started = {v: _start_trial(src, v, spec, root) for v, (src, spec, root) in runs.items()
                       if v not in pretrained_by}
            for version, proc in started.items():
                _trial_result(version, proc)
                row[f"{version}_pretrain_loss"] = _pretrain_loss(runs[version][2])
            for version, source in pretrained_by.items():
                shutil.copytree(runs[source][2], runs[version][2])
            for version, (src, spec, root) in runs.items():
                for stage in (root / "stages").iterdir():
                    if stage.name not in ("pretrain", "cooldown"):
                        shutil.rmtree(stage)
                _say(f"trial cost, size {size}, {version}: the trial on cached pretraining ...")
                metrics[version] = _trial_result(version, _start_trial(src, version, spec, root))
                row[f"{version}_s"] = metrics[version]["time/stage_compute_seconds"]
                row[f"{version}_peak_rss_mb"] = metrics[version]["peak_rss_mb"]
                row[f"{version}_precision"] = metrics[version].get("precision", "float32")
            row["speedup"] = row["baseline_s"] / row["new_s"]
            # What of this code's trial went to target tasks whose English dev missed the learning gate:
            # their numbers can enter no fit, so this share is what a choice of tasks, not code, decides.
            row["new_target_s"] = _target_seconds(runs["new"][2])
            row["new_not_learned"] = sorted(t for t in row["new_target_s"]
                                            if metrics["new"].get(keys.learned("target", t)) == 0.0)
            row["new_not_learned_share"] = sum(row["new_target_s"].get(t, 0.0) for t in row["new_not_learned"]) / row["new_s"]
            row["bf16_speedup"] = row["baseline_s"] / row["new_bf16_s"]
            row["gated_speedup"] = row["baseline_s"] / row["new_gated_s"]
            row["gated_vs_new"] = row["new_s"] / row["new_gated_s"]
            row["bf16_gated_speedup"] = row["baseline_s"] / row["new_bf16_gated_s"]
            # The gate only drops numbers: whatever the gated trial reports must equal the ungated one's.
            row["gated_dropped"] = sorted(k for k in metrics["new"] if k not in metrics["new_gated"]
                                          and not k.startswith("time/"))
            row["max_metric_difference_gated"] = max(
                (abs(metrics["new"][k] - v) for k, v in metrics["new_gated"].items()
                 if k in metrics["new"] and not k.startswith("time/") and k != "peak_rss_mb"
                 and isinstance(v, float)), default=float("nan"))
            row["max_metric_difference"], row["max_metric_difference_key"] = _max_difference(
                metrics["baseline"], metrics["new"])
            # One seed: how far bf16 moves the numbers, to set against the seed spread (docs/performance.md).
            row["max_metric_difference_bf16"], row["max_metric_difference_bf16_key"] = _max_difference(
                metrics["new"], metrics["new_bf16"])
            out[size] = row
    out["target"] = "speedup >= 1.8; peak RSS no more than the baseline's"
    return out


def _target_seconds(root: Path) -> dict[str, float]:
    """Compute seconds of each target task's stage in the trial cached under `root`."""
    seconds = {}
    for path in (root / "stages" / "target").glob("*/entry.json"):
        entry = json.loads(path.read_text())
        seconds[entry["config"]["task"]] = entry["compute_seconds"]
    return seconds


def _max_difference(a: dict, b: dict) -> tuple[float, str]:
    """The largest difference of a language-averaged zero-shot or probe metric, and its key."""
    shared = [k for k in a if k in b and k.startswith(("target/", "align/", "dev/")) and "/avg/" in k]
    return max(((abs(a[k] - b[k]), k) for k in shared), default=(float("nan"), ""))


# ------------------------------------------------------------------------------ bf16 against float32

PRECISION_SEEDS = 10
"""Seeds of the `precision` figure: with 10 pairs a shift of about one SD of the paired differences is
detected with 80% power (each metric's `detectable`)."""


def _compared(m: dict) -> list[str]:
    """The numbers a study reads: language-averaged zero-shot and probe metrics, English dev scores, the
    intermediate task's dev accuracy, `dev/score` and `xtreme/score`."""
    return [k for k in m if (k.startswith(("target/", "align/")) and f"/{keys.AVG}/" in k)
            or (k.startswith(("dev/", "intermediate/")) and f"/{keys.ENGLISH}/" in k)
            or k in (keys.DEV_SCORE, keys.XTREME_SCORE)]


def precision_seeds(smoke: bool, n_seeds: int = PRECISION_SEEDS) -> dict:
    """Whole trials (pretraining included) of `trial_cost`'s spec in float32 and with `resources.precision:
    bf16`, paired by seed: per metric the mean bf16 - float32 difference with its 95% t interval, the
    interval Holm-adjusted over all metrics, the float32 seed SD to set it against, and every seed's two
    values (for pooling with later runs). A seed's two trials run side by side, one thread each, so both
    see the same load."""
    from xscale.analysis.fits import holm, paired_difference

    size, seeds = ("xs", range(2)) if smoke else ("s", range(n_seeds))
    versions = ("new", "new_bf16")  # trial_cost's names: this code in float32, and with the bf16 opt-in
    results: dict[str, dict[int, dict]] = {v: {} for v in versions}
    with tempfile.TemporaryDirectory(prefix="xscale-bench-precision-") as tmp:
        work = Path(tmp)
        for seed in seeds:
            _say(f"precision, size {size}: seed {seed + 1} of {len(seeds)}, float32 and bf16 side by side ...")
            started = {v: _start_trial(ROOT, v, _trial_spec(work, size, smoke, v, seed), work / f"{v}-{seed}")
                       for v in versions}
            for v, proc in started.items():
                results[v][seed] = _trial_result(v, proc)
    f32, bf16 = results["new"], results["new_bf16"]
    names = [k for k in _compared(f32[0]) if all(k in f32[s] and k in bf16[s] for s in seeds)]
    diffs = {k: paired_difference({s: bf16[s][k] for s in seeds}, {s: f32[s][k] for s in seeds}) for k in names}
    levels = holm([diffs[k].p_value for k in names])
    rows, excluding_zero_holm = {}, []
    for k, level in zip(names, levels):
        e = diffs[k]
        adjusted = e.at_level(level) if level is not None else e
        if adjusted.excludes_zero:
            excluding_zero_holm.append(k)
        float32 = [f32[s][k] for s in seeds]
        rows[k] = {"mean": e.value, "low": e.low, "high": e.high, "p": e.p_value, "detectable": e.detectable,
                   "holm_low": adjusted.low, "holm_high": adjusted.high, "float32_seed_sd": statistics.stdev(float32),
                   "float32": float32, "bf16": [bf16[s][k] for s in seeds]}
    compute = {v: [results[v][s][keys.STAGE_COMPUTE_SECONDS] for s in seeds] for v in versions}
    return {
        "size": size, "seeds": len(seeds), "metrics": rows,
        "precisions": {v: sorted({results[v][s]["precision"] for s in seeds}) for v in versions},
        "excluding_zero": sorted(k for k in names if diffs[k].excludes_zero),
        "excluding_zero_holm": sorted(excluding_zero_holm),
        "learned": {v: {k.split("/")[-1]: int(sum(results[v][s].get(k, 0.0) for s in seeds))
                        for k in results[v][0] if k.startswith("learned/")} for v in versions},
        "float32_s": compute["new"], "bf16_s": compute["new_bf16"],
        "speedup": sum(compute["new"]) / sum(compute["new_bf16"]),
        "float32_peak_rss_mb": max(f32[s]["peak_rss_mb"] for s in seeds),
        "bf16_peak_rss_mb": max(bf16[s]["peak_rss_mb"] for s in seeds),
    }


# ------------------------------------------------------------------------------ the runner


def _machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()}


def run(smoke: bool, only: set[str] | None = None, keep: Path | None = None,
        cost_tasks: tuple[str, ...] = COST_TASKS) -> dict:
    torch.set_num_threads(1)
    results: dict = {"machine": _machine(), "smoke": smoke, "figures": {}}
    figs = results["figures"]

    def want(name: str) -> bool:
        return not only or name in only

    if want("loop"):
        sizes = ("xs",) if smoke else tuple(models.SIZES)
        rows = loop_throughput(sizes, steps=5 if smoke else 12, repeats=2 if smoke else 3)
        peak = matmul_peak(512 if smoke else 1024)
        for r in rows:
            r["cpu_efficiency"] = r["model_flops_per_s"] / peak
        figs["loop"] = {"rows": rows, "matmul_peak_flops_per_s": peak,
                        "target": "ratio >= 0.90 per size; cpu_efficiency >= 0.25 for the largest size"}
    if want("gpu") and not torch.cuda.is_available():
        figs["gpu"] = {"skipped": "no CUDA device"}
    elif want("gpu"):
        figs["gpu"] = gpu_throughput(batch=8 if smoke else 32, seq=128 if smoke else 512, steps=3 if smoke else 20,
                                     warmup=2 if smoke else 5)
    if want("padding"):
        figs["padding"] = {"rows": padding_waste("tiny" if smoke else "small", ("xnli", "pawsx", "udpos", "panx", "xquad")),
                           "target": "grouped <= 0.15"}
    if only and "trial_cost" in only:
        figs["trial_cost"] = trial_cost(smoke, tasks=cost_tasks)
    if only and "precision" in only:
        figs["precision"] = precision_seeds(smoke)
    if only and "asha" in only:
        with tempfile.TemporaryDirectory(prefix="xscale-bench-asha-") as tmp:
            spec = ROOT / "search_spaces" / "size_vs_data.yaml"
            if smoke:
                spec = _variant(ROOT / "search_spaces" / "smoke.yaml", Path(tmp), "bench_smoke", _shrink)
            figs["asha"] = asha_savings(spec, Path(tmp))
    sweep_wanted = tuple(f for f in SWEEP_FIGURES if want("sweep") or want(f))
    if sweep_wanted:
        with tempfile.TemporaryDirectory(prefix="xscale-bench-spec-") as spec_dir:
            spec = ROOT / "search_spaces" / "size_vs_data.yaml"
            if smoke:
                spec = _variant(ROOT / "search_spaces" / "smoke.yaml", Path(spec_dir), "bench_smoke", _shrink)
            figs.update(sweep_figures(spec, smoke, sweep_wanted, keep))
    return results


def format_table(results: dict) -> str:
    lines = [f"machine: {results['machine']}"]
    loop = results["figures"].get("loop")
    if loop:
        lines.append(f"fp32 matmul peak (1 thread): {loop['matmul_peak_flops_per_s'] / 1e9:.1f} GFLOP/s")
        lines.append(f"{'size':5} {'non-emb params':>14} {'xscale tok/s':>13} {'bare tok/s':>11} {'ratio':>6} {'CPU eff.':>8}")
        for r in loop["rows"]:
            lines.append(f"{r['size']:5} {r['non_embedding_params']:>14,} {r['tokens_per_s']:>13,.0f} "
                         f"{r['bare_tokens_per_s']:>11,.0f} {r['ratio']:>6.2f} {r['cpu_efficiency']:>8.1%}")
    gpu = results["figures"].get("gpu")
    if gpu and "skipped" in gpu:
        lines.append(f"GPU throughput: skipped ({gpu['skipped']})")
    elif gpu:
        peak = gpu["bf16_peak_datasheet"]
        lines.append(f"{gpu['device']}: {gpu['arch']} MLM, batch {gpu['batch']}x{gpu['seq']}, bf16 autocast, fused AdamW; "
                     f"bf16 peak {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s (datasheet), "
                     f"{gpu['bf16_matmul_measured'] / 1e12:.0f} (8192^3 matmul measured)")
        lines.append(f"{'compile':8} {'xscale tok/s':>13} {'bare tok/s':>11} {'ratio':>6} {'MFU':>6} {'MFU meas.':>9} {'warm-up s':>9}")
        for r in gpu["rows"]:
            mfu = f"{r['mfu_datasheet']:.1%}" if r["mfu_datasheet"] else "n/a"
            lines.append(f"{str(r['compile']):8} {r['tokens_per_s']:>13,.0f} {r['bare_tokens_per_s']:>11,.0f} "
                         f"{r['ratio']:>6.2f} {mfu:>6} {r['mfu_measured_peak']:>9.1%} {r['warmup_s']:>9.1f}")
    pad = results["figures"].get("padding")
    if pad:
        lines.append("padding waste (padded / processed token slots): " + ", ".join(
            f"{r['task']} {r['grouped']:.1%} (random batches {r['random']:.1%})" for r in pad["rows"]))
    f = results["figures"]
    if "sweep_wall_s" in f:
        lines.append(f"sweep wall time with a fresh cache: {f['sweep_wall_s']:.0f}s")
    if "overhead" in f:
        o = f["overhead"]
        w = o.get("worst_trial", {})
        worst = (f" (trial {', '.join(f'{k}={v}' for k, v in w['cell'].items())}: {w['wall_s']:.0f}s wall, "
                 f"{w['compute_s']:.0f}s computing)") if w else ""
        lines.append(f"per-trial overhead: median {o['median']:.1%}, max {o['max']:.1%}{worst}")
    if "cache" in f:
        c = f["cache"]
        lines.append(f"stage cache: {c['no_cache_s']:.0f}s without / {c['with_cache_s']:.0f}s with = {c['speedup']:.2f}x; "
                     f"pretraining runs {c['pretrain_runs_no_cache']:.0f} vs {c['pretrain_runs_cached']:.0f}")
    if "parallelism" in f:
        p = f["parallelism"]
        lines.append(f"parallelism on {p['cores']} cores: {p['cells_per_hour_n_trials_x_1_thread']:.0f} cells/h "
                     f"(N trials x 1 thread) vs {p['cells_per_hour_1_trial_x_n_threads']:.0f} (1 trial x N threads)"
                     f" -> default: {p['default']}")
    if "cost_scaling" in f:
        lines.append("sweep cost: " + ", ".join(f"{r['cells']} cells {r['wall_s']:.0f}s" for r in f["cost_scaling"]))
    if "asha" in f:
        a = f["asha"]
        lines.append(f"ASHA inside each cell: {a['stopped']} of {a['trials']} trials stopped after the intermediate "
                     f"stage ({a['target_stages_saved']} target stages saved), {a['fifo_s']:.0f}s -> {a['asha_s']:.0f}s "
                     f"on a shared cache; same trial selected in every cell: {'yes' if a['same_selection'] else 'NO'}"
                     + (f" (differs: {', '.join(a['cells_selecting_differently'])})" if not a["same_selection"] else ""))
    if "trial_cost" in f:
        c = f["trial_cost"]
        lines.append(f"trial stage compute with cached pretraining ({', '.join(c['tasks'])}), against "
                     f"{c['baseline_commit']}: " + ", ".join(
            f"{size} {r['baseline_s']:.1f}s -> {r['new_s']:.1f}s = {r['speedup']:.2f}x (peak RSS "
            f"{r['baseline_peak_rss_mb']:.0f} -> {r['new_peak_rss_mb']:.0f} MB; largest metric difference "
            f"{r['max_metric_difference']:.2f}, {r['max_metric_difference_key']}); opt-in bf16 {r['new_bf16_s']:.1f}s = {r['bf16_speedup']:.2f}x (peak RSS "
            f"{r['new_bf16_peak_rss_mb']:.0f} MB; largest difference to float32, one seed, {r['max_metric_difference_bf16']:.2f}, "
            f"{r['max_metric_difference_bf16_key']};"
            f" pretraining loss {r['new_pretrain_loss']:.3f} float32, {r['new_bf16_pretrain_loss']:.3f} bf16;"
            f" below the learning gate: {', '.join(r['new_not_learned']) or 'none'},"
            f" {r['new_not_learned_share']:.0%} of the stage compute; with target.gate_zero_shot"
            f" {r['new_gated_s']:.1f}s = {r['gated_speedup']:.2f}x, {r['gated_vs_new']:.2f}x the float32 trial,"
            f" {len(r['gated_dropped'])} numbers not reported, the rest differ by at most {r['max_metric_difference_gated']:.2g};"
            f" bf16 and the gate together {r['new_bf16_gated_s']:.1f}s = {r['bf16_gated_speedup']:.2f}x, peak RSS"
            f" {r['new_bf16_gated_peak_rss_mb']:.0f} MB)"
            for size, r in c.items() if isinstance(r, dict)))
    if "precision" in f:
        p = f["precision"]
        xtreme = p["metrics"].get(keys.XTREME_SCORE)
        lines.append(
            f"bf16 against float32, {p['seeds']} paired whole trials at {p['size']}: {len(p['excluding_zero'])} of "
            f"{len(p['metrics'])} 95% intervals exclude zero ({', '.join(p['excluding_zero']) or 'none'}), "
            f"{len(p['excluding_zero_holm'])} after Holm ({', '.join(p['excluding_zero_holm']) or 'none'})"
            + (f"; xtreme/score {xtreme['mean']:+.2f} [{xtreme['low']:+.2f}, {xtreme['high']:+.2f}]" if xtreme else "")
            + f"; whole-trial compute {p['speedup']:.2f}x; peak RSS {p['float32_peak_rss_mb']:.0f} / "
            f"{p['bf16_peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xscale.perf", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, seconds instead of minutes (a test runs this)")
    ap.add_argument("--out", default=str(ROOT / "sweeps" / "bench" / "results.json"))
    ap.add_argument("--only", nargs="*", help="run only these figures: loop gpu padding overhead cache parallelism "
                    "cost_scaling (sweep: those four); trial_cost, precision and asha run only when named")
    ap.add_argument("--keep", metavar="DIR", help="run the sweeps in DIR and keep them (MLflow store, outputs, cache), "
                    "e.g. for `xscale report DIR/size_vs_data`; DIR must be empty or new")
    ap.add_argument("--cost-tasks", nargs="+", metavar="TASK",
                    help=f"target tasks of trial_cost's spec (default: all of {', '.join(COST_TASKS)})")
    args = ap.parse_args(argv)
    cost_tasks = tuple(dict.fromkeys(args.cost_tasks or COST_TASKS))
    unknown = [t for t in cost_tasks if t not in COST_TASKS]
    if unknown:
        print(f"error: --cost-tasks: unknown task {unknown[0]!r} (allowed: {', '.join(COST_TASKS)})", file=sys.stderr)
        return 2
    if args.cost_tasks and "trial_cost" not in (args.only or ()):
        print("error: --cost-tasks: only trial_cost reads it; add --only trial_cost", file=sys.stderr)
        return 2
    keep = Path(args.keep) if args.keep else None
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        print(f"error: --keep: {keep} must be an empty folder or a new path", file=sys.stderr)
        return 2
    results = run(args.smoke, set(args.only) if args.only else None, keep, cost_tasks)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(format_table(results))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
