"""What each language's grammar alone costs zero-shot transfer, with its words aligned by construction.

    python -m xscale.synthcheck.grammar_ceiling --out DIR [--seed N] [--task xnli|udpos]

Zero-shot scores mix two things: how far a language's grammar is from English, and how well pretraining
aligned its words with English ones. This diagnostic removes the second. It fine-tunes the check's model
(`xscale synth check`'s `s`, pretrained on the benchmark's corpus) on the English task and scores it on
test sets realised with each language's grammar but English words; a language's own marker words that
English lacks (the accusative `acc`, the question particle `q`) keep their own spelling. The score of a
language is then the best its grammar allows this classifier, however well its words were aligned.

`DIR` is a `xscale synth check --out DIR` folder: the seed's benchmark is reused (generated if missing)
and the check's pretrained model is reused from `DIR/check-cache` (pretrained if missing). The changed
test sets go to a copy of the benchmark under `DIR/grammar-ceiling/`, with its own stage cache, so the
check's cached results stay untouched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from xscale.errors import UserError
from xscale.synthcheck.transfer import CHECK_PRETRAIN_TOKENS, CHECK_SIZE, TRANSFER_TASKS, check_spec, run_check_trial


def english_word_realisers(ctx) -> dict:
    """A realiser per non-English language: its grammar, English spellings (its own where English has
    no such word)."""
    from xscale.synth.languages import Lexicon, Realiser

    world, en = ctx.world, ctx.realisers["en"].forms
    out = {}
    for code, realiser in ctx.realisers.items():
        if code == "en":
            continue
        own = realiser.forms
        forms = tuple(None if o is None else (e if e is not None else o) for e, o in zip(en, own))
        out[code] = Realiser(world, realiser.spec, Lexicon(code, forms))
    return out


def ceiling_benchmark(bench_dir: Path, out: Path, task: str) -> Path:
    """A copy of the benchmark at `out` whose `task` test sets use English words in every grammar. The
    manifest is kept (its checksums of the changed files no longer hold), so the copy has the benchmark's
    key and reuses its pretrained models."""
    import datasets

    from xscale.synth import tasks as task_registry
    from xscale.synth.io import regenerate

    ctx = regenerate(bench_dir)
    config = ctx.config
    ctx.realisers.update(english_word_realisers(ctx))
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(bench_dir, out)
    data = datasets.load_from_disk(str(out / "tasks" / task))
    definition = task_registry.TASKS[task]
    items = task_registry.make_items(ctx, definition, "test", config.test_size)
    for code in config.languages:
        rows = [definition.render(ctx, item, code, "test", i) for i, item in enumerate(items)]
        data[f"test.{code}"] = datasets.Dataset.from_list(rows, features=data[f"test.{code}"].features)
    staged = out / "tasks" / f"{task}.new"
    data.save_to_disk(str(staged))
    shutil.rmtree(out / "tasks" / task)
    staged.rename(out / "tasks" / task)
    return out


def measure(root: Path, seed: int, task: str) -> dict[str, float]:
    """Per-language zero-shot scores of the check's model on the English-word test sets."""
    import datasets
    import torch

    from xscale.cache import StageCache
    from xscale.data.synthetic import SyntheticData
    from xscale.synth.io import ensure

    datasets.disable_progress_bars()
    torch.set_num_threads(1)
    bench_dir = ensure(root, "default", seed)
    work = root / "grammar-ceiling" / f"seed-{seed}-{task}"
    bench = ceiling_benchmark(bench_dir, work / "bench", task)
    cache = work / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    pretrained = root / "check-cache" / "pretrain"
    if pretrained.is_dir():  # the check's pretraining runs, keyed by benchmark: reuse, never rerun
        shutil.copytree(pretrained, cache / "pretrain")
    spec = check_spec(seed, "default", (task,), CHECK_PRETRAIN_TOKENS, CHECK_SIZE)
    metrics = run_check_trial(spec, SyntheticData(bench), StageCache(cache), 1.0)
    metric = TRANSFER_TASKS[task]
    prefix = f"target/{task}/"
    return {k[len(prefix):-len(metric) - 1]: v for k, v in metrics.items()
            if k.startswith(prefix) and k.endswith("/" + metric) and not k.startswith(prefix + "avg/")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xscale.synthcheck.grammar_ceiling", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="a `xscale synth check --out` folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", choices=sorted(TRANSFER_TASKS), default="xnli")
    args = parser.parse_args(argv)
    try:
        scores = measure(args.out, args.seed, args.task)
    except UserError as e:  # as the `xscale` command does: one line, exit code 2
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"seed": args.seed, "task": args.task, "metric": TRANSFER_TASKS[args.task],
                      "english_words": {k: round(v, 1) for k, v in scores.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
