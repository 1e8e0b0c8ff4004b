"""`make bench`: performance figures, each a ratio of two things measured in the same run.

    python -m xscale.bench [--smoke] [--out sweeps/bench/results.json] [--only NAME ...]

Figures: training-loop throughput against a bare PyTorch loop (per size); CPU efficiency
(6·N·tokens/s over this machine's measured fp32 matmul peak); padding waste of the synthetic tasks'
batches; per-trial overhead of smoke trials; stage cache speed-up of a whole sweep; parallelism
(N trials x 1 thread against 1 trial x N threads); sweep cost against the number of grid cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from xscale import models
from xscale.train import TrainConfig, make_optimizer, train

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ training loop


def _mlm_like_batches(vocab: int, batch: int, seq: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    while True:
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        yield {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 3, (batch,), generator=g)}


def bare_loop(model: torch.nn.Module, batches, steps: int, lr: float) -> float:
    """The reference: forward, backward, step and nothing else; returns seconds."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        b = next(batches)
        loss = model(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def loop_throughput(sizes: tuple[str, ...], steps: int, batch: int = 32, seq: int = 64, vocab: int = 6000,
                    repeats: int = 3) -> list[dict]:
    """xscale's loop against the bare loop on the same model, batch and optimizer; best of `repeats`
    interleaved runs of each, so both see the same machine state."""
    rows = []
    for size in sizes:
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


# ------------------------------------------------------------------------------ the runner


def _machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()}


def run(smoke: bool, only: set[str] | None = None) -> dict:
    torch.set_num_threads(1)
    results: dict = {"machine": _machine(), "smoke": smoke, "figures": {}}
    figs = results["figures"]

    def want(name: str) -> bool:
        return not only or name in only

    if want("loop"):
        sizes = ("xs",) if smoke else tuple(models.SIZES)
        rows = loop_throughput(sizes, steps=5 if smoke else 30, repeats=2 if smoke else 3)
        peak = matmul_peak(512 if smoke else 1024)
        for r in rows:
            r["cpu_efficiency"] = r["model_flops_per_s"] / peak
        figs["loop"] = {"rows": rows, "matmul_peak_flops_per_s": peak,
                        "target": "ratio >= 0.90 per size; cpu_efficiency >= 0.25 for the largest size"}
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
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xscale.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, seconds instead of minutes (a test runs this)")
    ap.add_argument("--out", default=str(ROOT / "sweeps" / "bench" / "results.json"))
    ap.add_argument("--only", nargs="*", help="run only these figures")
    args = ap.parse_args(argv)
    results = run(args.smoke, set(args.only) if args.only else None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(format_table(results))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
