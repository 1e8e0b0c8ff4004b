"""Where a trial's data comes from: the embedded synthetic benchmark, local files, or the Hub.

Every source hands out the same things in the same Hub schemas: a task's English training and dev
rows, its test rows per language, the tokenizer, the pretraining corpus (synthetic only) and
parallel sentences for the alignment probes.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path

from datasets import Dataset, concatenate_datasets

from xscale.errors import UserError
from xscale.spec import Benchmark as BenchmarkSpec
from xscale.tasks.registry import TaskInfo, get_task

ENGLISH = "en"
PROBE_TASK = "tatoeba"


class SyntheticBenchmark:
    """The embedded benchmark, generated on first use into the shared cache folder."""

    kind = "synthetic"

    def __init__(self, spec: BenchmarkSpec, root: Path, translate_intermediate: bool = False):
        from xscale import synth

        knobs = dict(spec.knobs)
        if translate_intermediate:
            knobs["translate_intermediate"] = True
        self._synth = synth
        self.dir = synth.ensure(root, preset=spec.preset, seed=spec.seed, **knobs)
        self.manifest = synth.read_manifest(self.dir)
        self.key = self.manifest["hash"]
        self.only_languages = spec.languages

    @cached_property
    def tokenizer(self):
        return self._synth.load_tokenizer(self.dir)

    def _task(self, name: str):
        return self._synth.load_task(self.dir, name)

    def languages(self, task: TaskInfo) -> list[str]:
        splits = self._task(task.name).keys()
        langs = [s.split(".", 1)[1] for s in splits if s.startswith("test.")]
        return [lang for lang in langs if not self.only_languages or lang in self.only_languages]

    def train(self, task: TaskInfo, translated: bool = False) -> Dataset:
        dd = self._task(task.name)
        if translated:
            parts = [dd["train"]] + [dd[s] for s in sorted(dd) if s.startswith("train.")]
            return concatenate_datasets(parts)
        return dd["train"]

    def dev(self, task: TaskInfo) -> Dataset:
        return self._task(task.name)["validation"]

    def test(self, task: TaskInfo, lang: str, split: str = "test") -> Dataset:
        return self._task(task.name)[f"{split}.{lang}"]

    def corpus_texts(self) -> Dataset:
        return self._synth.load_corpus(self.dir)

    def parallel(self, max_pairs: int) -> dict[str, tuple[list[str], list[str]]]:
        """Probe pairs: the retrieval task's validation split (disjoint from its test split)."""
        dd = self._task(PROBE_TASK)
        out = {}
        for split in sorted(dd):
            if split.startswith("validation."):
                lang = split.split(".", 1)[1]
                if self.only_languages and lang not in self.only_languages:
                    continue
                rows = dd[split].select(range(min(max_pairs, len(dd[split]))))
                out[lang] = (list(rows["source_sentence"]), list(rows["target_sentence"]))
        return out


class LocalBenchmark:
    """Task files on disk, laid out like shared/realdata (XTREME's released formats)."""

    kind = "local"

    def __init__(self, spec: BenchmarkSpec, tokenizer_source: str | None = None):
        from xscale.tasks import readers

        self._readers = readers
        self.root = Path(spec.path).expanduser()
        if not self.root.is_dir():
            raise UserError(f"benchmark.path: {self.root} is not a folder")
        self.key = f"local:{self.root.resolve()}"
        self.only_languages = spec.languages
        self.tokenizer_source = tokenizer_source

    def _load(self, task: str, lang: str, split: str) -> Dataset:
        return self._readers.load_local(task, self.root, lang, split)

    def languages(self, task: TaskInfo) -> list[str]:
        langs = [lang for lang in task.languages if self._readers.has_local(task.name, self.root, lang, "test")]
        return [lang for lang in langs if not self.only_languages or lang in self.only_languages]

    def train(self, task: TaskInfo, translated: bool = False) -> Dataset:
        source = task.train_task or task.name
        return self._load(source, ENGLISH, "train")

    def dev(self, task: TaskInfo) -> Dataset:
        return self._load(task.train_task or task.name, ENGLISH, "validation")

    def test(self, task: TaskInfo, lang: str, split: str = "test") -> Dataset:
        return self._load(task.name, lang, split)

    def parallel(self, max_pairs: int) -> dict[str, tuple[list[str], list[str]]]:
        tatoeba = get_task(PROBE_TASK)
        out = {}
        for lang in self.languages(tatoeba):
            rows = self.test(tatoeba, lang)
            rows = rows.select(range(min(max_pairs, len(rows))))
            out[lang] = (list(rows["source_sentence"]), list(rows["target_sentence"]))
        return out


def fraction_subset(ds: Dataset, fraction: float, cap: int | None = None) -> Dataset:
    """The first ceil(fraction * N) rows: the subset for fraction f is inside the one for any f' > f."""
    n = min(len(ds), cap) if cap else len(ds)
    return ds.select(range(max(1, math.ceil(fraction * n))))
