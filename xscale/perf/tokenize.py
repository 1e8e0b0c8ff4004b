"""Tokenisation throughput on real task files: `python -m xscale.perf.tokenize`.

Reads a few tasks from a realdata-style folder, tokenises them with `formats.encode` (the batched
`datasets.map` every stage uses) and prints examples per second. The rows are read into memory,
so `datasets` has no cache file to reuse and every run measures real work. The tokenizer is a
pretrained one (`--tokenizer`, a Hub id or local folder) or, by default, the BPE tokenizer that
from-scratch models train on the fly (trained here on the same rows, which is timed too).
A measurement tool, not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# (task, language, split): one of each input shape, several scripts.
DEFAULT_CASES = (
    ("xnli", "de", "validation"),
    ("pawsx", "zh", "validation"),
    ("udpos", "en", "train"),
    ("panx", "en", "train"),
    ("xquad", "zh", "validation"),
    ("tydiqa", "sw", "train"),
)


def _default_data() -> Path:
    configured = os.environ.get("XSCALE_REALDATA")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "realdata"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xscale.perf.tokenize", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=_default_data(), help="realdata-style folder "
                   "(default: $XSCALE_REALDATA or <repo>/../shared/realdata)")
    p.add_argument("--tokenizer", help="pretrained tokenizer (Hub id or folder); default: train the on-the-fly BPE")
    p.add_argument("--rows", type=int, default=2000, help="rows per task (default 2000)")
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per task; the best is shown")
    args = p.parse_args(argv)

    import datasets

    from xscale import formats
    from xscale.errors import UserError
    from xscale.data.local import load_local
    from xscale.tasks.registry import get_task

    datasets.disable_progress_bars()
    if not args.data.is_dir():
        print(f"error: no data folder at {args.data} (use --data or set XSCALE_REALDATA)", file=sys.stderr)
        return 2
    rows = {}
    for name, lang, split in DEFAULT_CASES:
        try:
            ds = load_local(name, args.data, lang, split)
        except UserError as err:
            print(f"skip {name}/{lang}: {err}", file=sys.stderr)
            continue
        rows[(name, lang)] = ds.select(range(min(args.rows, len(ds))))

    if args.tokenizer:
        from xscale.data.tokenizer import load_pretrained_tokenizer

        try:
            tok = load_pretrained_tokenizer(args.tokenizer)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        what = args.tokenizer
    else:
        from xscale.data.tokenizer import TOKENIZER_VOCAB_SIZE, fast_tokenizer, text_strings, train_tokenizer

        texts = [t for (name, _), ds in rows.items() for t in text_strings(get_task(name), ds, 10**9)]
        t0 = time.perf_counter()
        tok = fast_tokenizer(train_tokenizer(texts, TOKENIZER_VOCAB_SIZE).to_str())
        seconds = time.perf_counter() - t0
        chars = sum(map(len, texts))
        what = f"on-the-fly BPE ({TOKENIZER_VOCAB_SIZE} tokens, trained on {chars:,} characters in {seconds:.1f}s)"

    print(f"tokenizer: {what}; max_seq_len {args.max_seq_len}; best of {args.repeat}")
    print(f"{'task':8} {'lang':4} {'format':20} {'rows':>6} {'features':>8} {'seconds':>8} {'examples/s':>11}")
    for (name, lang), ds in rows.items():
        task = get_task(name)
        best, n_features = float("inf"), 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            enc = formats.encode(task, ds, tok, args.max_seq_len, train=True)
            best = min(best, time.perf_counter() - t0)
            n_features = len(enc)
        print(f"{name:8} {lang:4} {task.format:20} {len(ds):6d} {n_features:8d} {best:8.3f} {len(ds) / best:11,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
