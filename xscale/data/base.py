"""What the pipeline reads, whatever the data's origin: the `DataSource` protocol and row helpers
that every source shares."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Protocol

from datasets import Dataset

from xscale.keys import ENGLISH
from xscale.tasks.registry import TaskInfo

PROBE_TASK = "tatoeba"
"""The task whose parallel sentences feed the alignment probes."""


class DataSource(Protocol):
    """A trial's data: every method returns rows in the Hub schema of the task (`xscale.tasks.readers.FEATURES`)."""

    kind: str
    """synthetic, local or hub."""

    @property
    def key(self) -> str:
        """Content id of the data and tokenizer (part of every stage's cache key)."""

    @property
    def tokenizer(self):
        """A `transformers` fast tokenizer with XLM-R's special tokens."""

    def languages(self, task: TaskInfo) -> list[str]:
        """Languages of `task` with evaluation data."""

    def train(self, task: TaskInfo, translated: bool = False) -> Dataset:
        """English training rows (with `translated`, followed by their translations)."""

    def dev(self, task: TaskInfo) -> Dataset:
        """English dev rows (what model selection and the learning gate read)."""

    def test(self, task: TaskInfo, lang: str, split: str = "test") -> Dataset:
        """Evaluation rows in `lang` (`split` matters for BUCC only: validation or test)."""

    def eval_split(self, task: TaskInfo, lang: str) -> str:
        """The split `test(task, lang)` reads (test, validation or train), recorded as `data/{task}/{lang}/split`."""

    def corpus_texts(self) -> Dataset:
        """The multilingual pretraining corpus (`text` column), in corpus order."""

    def parallel(self, max_pairs: int) -> dict[str, tuple[list[str], list[str]]]:
        """Probe pairs per language: (sentences, their English translations)."""


def cap_retrieval(task: TaskInfo, rows: Dataset, cap: int | None) -> Dataset:
    """`target.max_eval_examples` for the retrieval tasks, which the pipeline scores without
    `evaluate`: Tatoeba keeps its first pairs; BUCC keeps its first source sentences, their gold
    translations and as many further English sentences."""
    if not cap or task.format != "retrieval":
        return rows
    if task.name != "bucc":
        return rows.select(range(min(len(rows), cap)))
    cols = rows.select_columns(["lang", "id", "gold"]).to_dict()
    langs, ids, gold = cols["lang"], cols["id"], cols["gold"]
    source = [i for i, l in enumerate(langs) if l != ENGLISH][:cap]
    partners = {gold[i] for i in source if gold[i]}
    english = [i for i, l in enumerate(langs) if l == ENGLISH]
    keep = set(source) | {i for i in english if ids[i] in partners} | set(english[:cap])
    return rows.select(sorted(keep))


def fraction_subset(ds: Dataset, fraction: float, cap: int | None = None) -> Dataset:
    """The first ceil(fraction * N) rows: the subset for fraction f is inside the one for any f' > f."""
    n = min(len(ds), cap) if cap else len(ds)
    return ds.select(range(max(1, math.ceil(fraction * n))))


def content_sha(obj) -> str:
    """sha256 of the canonical JSON of `obj`."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def save_dataset(ds: Dataset, tmp: Path) -> None:
    """`save_to_disk` without its progress bar (a trial's log is for the stages)."""
    from datasets.utils import disable_progress_bars, enable_progress_bars, are_progress_bars_disabled

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        ds.save_to_disk(str(tmp))
    finally:
        if not was_disabled:
            enable_progress_bars()


def publish_dir(tmp: Path, target: Path) -> None:
    """Rename a finished folder into place; a concurrent writer that got there first wins."""
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
