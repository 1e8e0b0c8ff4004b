"""Materialising a benchmark on disk, atomically and byte-for-byte reproducibly, and reading it back.

Layout of a benchmark directory: `manifest.json` (written last; its `hash` is the content id),
`tokenizer.json`, `corpus/` (a `datasets.Dataset`) and `tasks/<name>/` (a `datasets.DatasetDict`).
Datasets are written with one shard per split and fingerprints derived from the content hash, so the
same seed and config give identical bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xscale.errors import UserError
from xscale.synth import tasks as task_registry
from xscale.synth.config import SynthConfig, make_config
from xscale.synth.corpus import build_corpus
from xscale.synth.languages import build_lexicons
from xscale.synth.tokenizer import load_tokenizer as _load_tokenizer
from xscale.synth.tokenizer import save_tokenizer
from xscale.synth.world import build_world

FORMAT = "xscale-synth/1"
GENERATOR_VERSION = 2
"""Bumped whenever the generator's output changes for the same config, so old caches are not reused."""
ALL_TASKS: tuple[str, ...] = task_registry.INTERMEDIATE_TASKS + task_registry.TARGET_TASKS


def content_hash(config: SynthConfig, seed: int) -> str:
    """The stable id of the content generated from `config` and `seed`."""
    knobs = config.to_dict()
    if not knobs["task_train_sizes"]:
        del knobs["task_train_sizes"]  # a knob added later: unset, it keeps earlier benchmarks' ids
    payload = {"format": FORMAT, "generator": GENERATOR_VERSION, "seed": seed, "config": knobs}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"synth.seed: must be an integer >= 0 (got {seed!r})")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence `datasets` progress bars while writing, then restore the caller's setting."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _dataset(rows_or_columns: dict[str, list], features, fingerprint: str):
    import pyarrow as pa
    from datasets import Dataset, DatasetInfo

    table = pa.Table.from_pydict(rows_or_columns, schema=features.arrow_schema)
    return Dataset(table, info=DatasetInfo(features=features), fingerprint=fingerprint)


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name in names}


def materialise(directory: Path, config: SynthConfig, preset: str, seed: int) -> dict[str, Any]:
    """Write the whole benchmark into `directory` (which must exist) and return its manifest."""
    from datasets import DatasetDict, Features, Value

    digest = content_hash(config, seed)
    world = build_world(config, seed)
    lexicons = build_lexicons(world, config, seed)
    ctx = task_registry.make_ctx(world, lexicons, config, seed)
    vocab_size = save_tokenizer(lexicons, directory / "tokenizer.json")

    manifest_tasks: dict[str, Any] = {}
    with _quiet_datasets():
        rows = build_corpus(world, ctx.realisers, config, seed)
        corpus_features = Features({"lang": Value("string"), "text": Value("string"), "n_tokens": Value("int32")})
        corpus = _dataset({"lang": [r.lang for r in rows], "text": [r.text for r in rows],
                           "n_tokens": [r.n_tokens for r in rows]}, corpus_features, digest[:16])
        corpus.save_to_disk(str(directory / "corpus"), num_shards=1)
        corpus_tokens = sum(r.n_tokens for r in rows)
        for name in ALL_TASKS:
            features = task_registry.features(name)
            splits = {}
            for split, split_rows in task_registry.task_splits(ctx, name):
                fingerprint = hashlib.sha256(f"{digest}/{name}/{split}".encode()).hexdigest()[:16]
                splits[split] = _dataset(_columns(split_rows, list(features)), features, fingerprint)
            DatasetDict(splits).save_to_disk(str(directory / "tasks" / name), num_shards={s: 1 for s in splits})
            manifest_tasks[name] = {"role": task_registry.task_role(name),
                                    "splits": {s: len(d) for s, d in splits.items()}}

    files = {str(p.relative_to(directory)): _sha256(p)
             for p in sorted(directory.rglob("*")) if p.is_file()}
    manifest = {"format": FORMAT, "preset": preset, "seed": seed, "config": config.to_dict(),
                "languages": list(config.languages), "tasks": manifest_tasks, "corpus_tokens": corpus_tokens,
                "corpus_documents": len(rows), "vocab_size": vocab_size, "files": files, "hash": digest}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def _manifest_or_none(directory: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "hash" not in manifest:
        return None
    return manifest


def read_manifest(bench_dir: str | Path) -> dict[str, Any]:
    """The manifest of a generated benchmark (UserError if `bench_dir` is not one)."""
    manifest = _manifest_or_none(Path(bench_dir))
    if manifest is None:
        raise UserError(f"synth.bench_dir: {bench_dir} is not a generated synth benchmark "
                        f"(no valid manifest.json of format {FORMAT}; make one with `xscale synth`)")
    return manifest


def regenerate(bench_dir: str | Path) -> task_registry.Ctx:
    """The generator's state behind a benchmark (config, seed, world, lexicons, realisers), rebuilt from
    its manifest in a fraction of a second, for diagnostics that need more than the written files."""
    manifest = read_manifest(bench_dir)
    config, seed = SynthConfig(**manifest["config"]), manifest["seed"]
    world = build_world(config, seed)
    return task_registry.make_ctx(world, build_lexicons(world, config, seed), config, seed)


def _non_empty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _build_beside(target: Path, config: SynthConfig, preset: str, seed: int) -> Path:
    """Generate into a fresh temporary directory next to `target` (same filesystem, so renames are atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        materialise(tmp, config, preset, seed)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def generate(out: str | Path, preset: str = "default", seed: int = 0, **knobs: Any) -> Path:
    """Materialise the benchmark of (preset, seed, knobs) at `out` and return `out`.

    An existing `out` is kept if it is this very benchmark, replaced if it is another synth benchmark,
    and refused (UserError) if it is a non-empty directory of anything else.
    """
    config = make_config(preset, **knobs)
    _check_seed(seed)
    out = Path(out)
    digest = content_hash(config, seed)
    previous = _manifest_or_none(out) if out.is_dir() else None
    if _non_empty(out) and previous is None:
        raise UserError(f"synth.out: {out} exists, is not empty and is not a synth benchmark; refusing to "
                        "overwrite it (allowed: a missing or empty directory, or an earlier synth output)")
    if previous is not None and previous["hash"] == digest:
        return out
    tmp = _build_beside(out, config, preset, seed)
    if previous is None:
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
        return out
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, old / "bench")
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def bench_name(preset: str, seed: int, digest: str) -> str:
    return f"{preset}-{seed}-{digest[:12]}"


def ensure(root: str | Path, preset: str = "default", seed: int = 0, **knobs: Any) -> Path:
    """`root/<preset>-<seed>-<hash[:12]>`, generated only if missing; safe when processes race
    (each builds in its own temporary directory and the first rename wins)."""
    config = make_config(preset, **knobs)
    _check_seed(seed)
    digest = content_hash(config, seed)
    target = Path(root) / bench_name(preset, seed, digest)
    manifest = _manifest_or_none(target)
    if manifest is not None and manifest["hash"] == digest:
        return target
    if _non_empty(target):
        raise UserError(f"synth.root: {target} exists but is not the benchmark it should hold; remove it")
    tmp = _build_beside(target, config, preset, seed)
    try:
        os.rename(tmp, target)
    except OSError:
        # Another process renamed its copy first; theirs is identical, so use it.
        shutil.rmtree(tmp, ignore_errors=True)
        manifest = _manifest_or_none(target)
        if manifest is None or manifest["hash"] != digest:
            raise
    return target


def load_task(bench_dir: str | Path, name: str):
    """Task `name` of a generated benchmark as a `datasets.DatasetDict`."""
    from datasets import load_from_disk

    if name not in ALL_TASKS:
        raise UserError(f"synth.task: unknown task {name!r} (allowed: {', '.join(ALL_TASKS)})")
    read_manifest(bench_dir)
    return load_from_disk(str(Path(bench_dir) / "tasks" / name))


def load_corpus(bench_dir: str | Path):
    """The pretraining corpus of a generated benchmark as a `datasets.Dataset` (stream order)."""
    from datasets import load_from_disk

    read_manifest(bench_dir)
    return load_from_disk(str(Path(bench_dir) / "corpus"))


def load_tokenizer(bench_dir: str | Path):
    """The benchmark's tokenizer as a `transformers.PreTrainedTokenizerFast` with its special tokens."""
    read_manifest(bench_dir)
    return _load_tokenizer(Path(bench_dir) / "tokenizer.json")
