"""Real data (`benchmark.kind: local` or `hub`) is wired as XTREME does zero-shot transfer, with these rules for
data that a folder like `../shared/realdata` only partly has:

- Training (English): the train split of the task's `train_task` (XNLI trains on MNLI, XQuAD and
  MLQA on SQuAD), with that task's dev split for English dev scores. A task with a train file but
  no dev file, or a dev file but no train file, is split deterministically into halves (half 0
  trains, half 1 is the dev set); the second case says so in a warning, because the training rows
  then come from a dev set. When the `train_task` has no English file at all, the task's own
  English files are used the same way.
- Languages: every language with local files, not only XTREME's (XTREME's lists on the Hub);
  `benchmark.languages` narrows them. Scores of languages outside XTREME's list stay out of
  `xtreme/score` (`xscale.tasks.metrics.xtreme_scores`).
- Evaluation (every language): the test split, else the dev split (XTREME hides the test labels
  of XNLI, PAWS-X and PAN-X, so their `dev-LANG` files serve as the evaluation data; a tokens-only
  `test-LANG.tsv`, as XTREME's preprocessing writes PAN-X and UD-POS, is passed over with a
  warning), else the train file (TyDiQA-GoldP's Swahili train file: never trained on in zero-shot
  transfer). `eval_split` says which split each language was evaluated on. A split
  that training used is never evaluated: only its held-out half 1 is, in every language, since
  XNLI, PAWS-X, XQuAD and MLQA are translations of one another. Halves keep groups of rows whole
  (a premise with its hypotheses, a PAWS sentence with its paraphrases, a context with its
  questions) and follow the English file's groups in every language (by row for line-aligned
  files, by question id for QA). Where the English dev score and the English evaluation read the
  same rows (PAN-X `dev-en`, a halved file) that is English only: model selection never sees the
  zero-shot languages.
- Tatoeba: the alignment probes take the last `probes.max_pairs` pairs per language (at most half);
  Tatoeba accuracy is measured on the pairs before them, so the two never share a sentence.
- BUCC: the threshold is chosen on the dev files and F1 measured on the test files. Without a
  labelled test file the dev files are split by source-sentence id into halves, threshold on half 0
  and F1 on half 1 (every English sentence stays a candidate in both).
- `target.max_eval_examples` caps the retrieval tasks here, in both kinds of benchmark (the pipeline
  caps the other tasks): see `cap_retrieval`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from datasets import Dataset, concatenate_datasets

from xscale.data.base import PROBE_TASK, cap_retrieval, content_sha, publish_dir, save_dataset
from xscale.data.hub import HubDatasets, missing_models
from xscale.data.local import LocalFiles
from xscale.data.tokenizer import (
    TOKENIZER_VOCAB_SIZE,
    fast_tokenizer,
    load_pretrained_tokenizer,
    text_strings,
    train_tokenizer,
)
from xscale.errors import UserError
from xscale.keys import ENGLISH
from xscale.spec import HUB_SIZES, Choice, Grid, Spec
from xscale.tasks.registry import TASKS, TaskInfo, get_task

TEXT_CHARS_PER_FILE = 300_000
"""Characters taken from each file (task, language, split) for the on-the-fly tokenizer and the MLM corpus."""
_FORMAT_VERSION = 1  # bump when the wiring or the text extraction changes what a key stands for

log = logging.getLogger("xscale.data")


@dataclass(frozen=True)
class Part:
    """Rows of one task/language/split; `half` 0 or 1 keeps one deterministic half of them."""

    task: str
    lang: str
    split: str
    half: int | None = None


def _half_of(key) -> int:
    # A cryptographic hash: CRC32's low bit is linear in the input bits, and similar ids skew it.
    return hashlib.sha256(str(key).encode()).digest()[0] & 1


def _group_fields(task: TaskInfo) -> list[str]:
    """Inputs whose repetition ties rows together: an NLI premise with its three hypotheses, a PAWS
    sentence with its paraphrases, a QA or multiple-choice context with its questions."""
    if task.format == "span_qa":
        return ["context"]
    if task.format == "multiple_choice":
        return list(task.text_fields[:1])
    return list(task.text_fields)


def _group_keys(task: TaskInfo, ds: Dataset) -> list[str]:
    """A key per row, equal for rows that share any grouping input (union-find over exact strings):
    the smallest question id of the group for QA (ids are shared across XQuAD/MLQA languages), else
    the group's first row index (XNLI/PAWS-X files are line-aligned across languages)."""
    fields = [f for f in _group_fields(task) if f in ds.column_names]
    cols = ds.select_columns(fields + (["id"] if task.format == "span_qa" else [])).to_dict()
    parent = list(range(len(ds)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for field in fields:
        for i, value in enumerate(cols[field]):
            text = " ".join(value) if isinstance(value, list) else str(value)
            if text in seen:
                a, b = find(i), find(seen[text])
                parent[max(a, b)] = min(a, b)
            else:
                seen[text] = i
    roots = [find(i) for i in range(len(ds))]
    if task.format != "span_qa":
        return [str(r) for r in roots]
    smallest: dict[int, str] = {}
    for r, qid in zip(roots, cols["id"]):
        smallest[r] = min(smallest.get(r, qid), qid)
    return [smallest[r] for r in roots]


def _halve(task: TaskInfo, ds: Dataset, half: int, english: Dataset | None = None) -> Dataset:
    """One deterministic half of `ds`, whole groups at a time (`_group_keys`). Given the `english`
    version of the same file, its groups decide, so every language keeps the same items: by row for
    line-aligned files, by question id for QA."""
    keys = _group_keys(task, ds)
    if english is not None and english is not ds:
        en_keys = _group_keys(task, english)
        if task.format == "span_qa":
            by_id = dict(zip(english.select_columns(["id"]).to_dict()["id"], en_keys))
            keys = [by_id.get(qid, k) for qid, k in zip(ds.select_columns(["id"]).to_dict()["id"], keys)]
        elif len(english) == len(ds):
            keys = en_keys
    chosen = [i for i, k in enumerate(keys) if _half_of(k) == half]
    if len(ds) > 1 and len(set(_half_of(k) for k in keys)) < 2:
        # One group holds everything (a one-paragraph QA fixture): halve rows instead.
        chosen = [i for i in range(len(ds)) if _half_of(i) == half]
    return ds.select(chosen)


def _axis_values(v) -> tuple:
    if isinstance(v, Grid):
        return v.grid
    if isinstance(v, Choice):
        return v.choice
    return (v,)


def tokenizer_source(spec: Spec) -> str | None:
    """The pretrained tokenizer a spec's model needs, or None for from-scratch sizes (trained here)."""
    if spec.model.hub_id:
        return spec.model.hub_id
    sizes = set(_axis_values(spec.model.size))
    hub = sorted(s for s in sizes if s in HUB_SIZES)
    if hub and len(hub) != len(sizes):
        raise UserError(f"model.size: {sorted(sizes)} mixes from-scratch sizes with pretrained XLM-R on a real "
                        "benchmark, where a sweep has one tokenizer (allowed: only xs..l, or only base/large; "
                        "run them as two sweeps)")
    # XLM-R base and large share one SentencePiece vocabulary, so one tokenizer serves both.
    return HUB_SIZES[hub[0]] if hub else None


def model_problems(spec: Spec) -> list[str]:
    """Every pretrained model a sweep loads that cannot be loaded (`missing_models`: a folder without a
    model, or offline/unreachable and not cached), one line each; [] for from-scratch sizes."""
    sources: dict[str, str] = {}
    for size in _axis_values(spec.model.size):
        if size not in HUB_SIZES and not spec.model.hub_id:
            continue
        for fraction in spec.checkpoint_fractions():
            checkpoint = spec.pretrain.checkpoints.get(fraction)
            source = checkpoint or spec.model.hub_id or HUB_SIZES[size]
            sources.setdefault(source, f"pretrain.checkpoints.{fraction:g}" if checkpoint else "model.hub_id")
    return missing_models(sources)


def intermediate_tasks(spec: Spec) -> list[str]:
    """The intermediate tasks a sweep may train (every value of the axis, multi-task ones split)."""
    names = [n for value in _axis_values(spec.intermediate.task) for n in str(value).split("+")]
    return [n for n in dict.fromkeys(names) if n in TASKS]


def tasks_used(spec: Spec) -> list[str]:
    """Every task whose data a sweep reads: intermediate and target tasks, the tasks that train the
    targets, and Tatoeba when the alignment probes run."""
    names = intermediate_tasks(spec)
    for name in spec.target.tasks:
        names.append(name)
        if TASKS[name].train_task:
            names.append(TASKS[name].train_task)
    if spec.probes.after:
        names.append(PROBE_TASK)
    return [n for n in dict.fromkeys(names) if n in TASKS]



class RealData:
    """XTREME-style tasks over a row source (`LocalFiles` or `HubDatasets`), wired for zero-shot
    transfer by the rules in the module docstring."""

    def __init__(self, source: LocalFiles | HubDatasets, spec: Spec, cache_root: Path):
        self.source = source
        self.kind = source.kind
        self.cache_root = Path(cache_root)
        self.only_languages = spec.benchmark.languages
        self.tasks = tasks_used(spec)
        self.intermediate = intermediate_tasks(spec)
        self.targets = tuple(spec.target.tasks)
        self.max_pairs = spec.probes.max_pairs
        self.eval_cap = spec.target.max_eval_examples
        self.translated = spec.intermediate.translated
        self.tokenizer_source = tokenizer_source(spec)
        self._plans: dict[str, tuple[Part, Part]] = {}
        self._said: set[str] = set()

    # -- bookkeeping

    def _warn(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            log.warning("benchmark: %s", message)

    def _wanted(self, lang: str) -> bool:
        return lang == ENGLISH or not self.only_languages or lang in self.only_languages

    def inventory(self) -> list[Part]:
        """Every task/language/split file set this sweep may read (English always included)."""
        parts = []
        for name in self.tasks:
            for lang in self.source.languages(name):
                if self._wanted(lang):
                    splits = ("train", "validation", "test")
                    parts += [Part(name, lang, s) for s in splits if self.source.has(name, lang, s)]
        return parts

    @cached_property
    def _inventory_key(self) -> str:
        ids = [[p.task, p.lang, p.split, self.source.identity(p.task, p.lang, p.split)] for p in self.inventory()]
        return content_sha([_FORMAT_VERSION, self.kind, ids, TEXT_CHARS_PER_FILE])

    @cached_property
    def key(self) -> str:
        """Content id of the data and tokenizer (part of every stage's cache key)."""
        tok = self.tokenizer_source or hashlib.sha256(self._tokenizer_json.encode()).hexdigest()
        return f"{self.kind}:" + content_sha([self._inventory_key, self.only_languages, tok])[:32]

    def check(self) -> None:
        """Fail fast on missing data, every problem in one UserError (a line each): intermediate tasks
        and the target tasks that train need English training data, every target needs an evaluation
        language, and on the Hub (offline or unreachable) every dataset a trial reads must be cached."""
        problems: list[str] = []

        def collect(parts, *args) -> list[Part]:
            try:
                return [p for p in parts(*args) if p is not None]
            except UserError as err:
                problems.append(str(err))
                return []

        read: list[Part] = []
        for name in self.intermediate:
            read += collect(self._intermediate_parts, get_task(name))
        for name in self.targets:
            read += collect(self._target_parts, get_task(name))
        if PROBE_TASK in self.tasks:
            probe = collect(self._target_parts, get_task(PROBE_TASK), False)
            if not probe:
                self._warn(f"alignment probes: no Tatoeba files in {self.source.describe()}, so no align/* metrics")
            read += probe
        if self.tokenizer_source is None:
            read += collect(self.inventory)  # the on-the-fly tokenizer reads every file
        if isinstance(self.source, HubDatasets):
            problems += self.source.missing((p.task, p.lang, p.split) for p in read)
        if problems:
            raise UserError("\n".join(problems))

    def _intermediate_parts(self, task: TaskInfo) -> list[Part]:
        """What an intermediate task reads: its English training data (and its translations' folders,
        which must exist, with `intermediate.translated`)."""
        if self.translated:
            self._translations(task)
        return list(self._plan(task))

    def _target_parts(self, task: TaskInfo, required: bool = True) -> list[Part | None]:
        """What a target task reads: its English training data and its evaluation data per language
        (a UserError when it has no evaluation language, unless not `required`: the probes' Tatoeba)."""
        parts: list[Part | None] = list(self._plan(task)) if task.train_task else []
        langs = self.languages(task)
        if not langs and required:
            hint = ""
            if self.kind == "hub" and not task.hub_id:
                hint = (" (it has no Hub source: set benchmark.path to a folder laid out like "
                        "../shared/realdata that holds its files)")
            raise UserError(f"{task.name}: no evaluation data in {self.source.describe()} for "
                            f"{', '.join(lang for lang in task.languages if self._wanted(lang))}{hint}")
        return parts + [self._eval_part(task, lang) for lang in langs]

    # -- tokenizer and corpus

    @cached_property
    def tokenizer(self):
        if self.tokenizer_source:
            return load_pretrained_tokenizer(self.tokenizer_source)
        return fast_tokenizer(self._tokenizer_json)

    @cached_property
    def _tokenizer_json(self) -> str:
        """The on-the-fly tokenizer, trained once per data and vocabulary size and kept under the
        cache (read once, so the tokenizer and `key` always agree)."""
        key = content_sha([self._inventory_key, TOKENIZER_VOCAB_SIZE, "bpe-metaspace-nfkc"])[:24]
        path = self.cache_root / "tokenizers" / f"{key}.json"
        if path.exists():
            return path.read_text(encoding="utf-8")
        texts = self._texts()["text"][:]
        log.warning("benchmark: training a %d-token BPE tokenizer on %d texts (%d characters) of the %s data",
                    TOKENIZER_VOCAB_SIZE, len(texts), sum(map(len, texts)), self.kind)
        text = train_tokenizer(texts, TOKENIZER_VOCAB_SIZE).to_str()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return text

    def _texts(self) -> Dataset:
        """Sentences of every file in the inventory (all languages, `TEXT_CHARS_PER_FILE` each),
        shuffled with a fixed seed; kept under the cache."""
        import datasets

        target = self.cache_root / "benchmarks" / f"text-{self._inventory_key[:24]}"
        if not (target / "state.json").exists():
            texts: list[str] = []
            for p in self.inventory():
                texts += text_strings(get_task(p.task), self.source.load(p.task, p.lang, p.split), TEXT_CHARS_PER_FILE)
            texts = list(dict.fromkeys(texts))
            random.Random(0).shuffle(texts)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
            save_dataset(Dataset.from_dict({"text": texts}), tmp)
            publish_dir(tmp, target)
        return datasets.load_from_disk(str(target))

    def corpus_texts(self) -> Dataset:
        """The MLM corpus of from-scratch models: the data's own sentences (unlabelled; test text included)."""
        return self._texts()

    # -- wiring

    def _rows(self, part: Part) -> Dataset:
        ds = self.source.load(part.task, part.lang, part.split)
        if part.half is None:
            return ds
        english = None
        if part.lang != ENGLISH and self.source.has(part.task, ENGLISH, part.split):
            english = self.source.load(part.task, ENGLISH, part.split)
        return _halve(get_task(part.task), ds, part.half, english)

    def _plan(self, task: TaskInfo) -> tuple[Part, Part]:
        """(train, dev) parts in English for `task` (see the module docstring)."""
        if task.name in self._plans:
            return self._plans[task.name]
        names = [task.train_task or task.name]
        if task.name not in names:
            names.append(task.name)
        plan = None
        for name in names:
            has_train, has_dev = (self.source.has(name, ENGLISH, s) for s in ("train", "validation"))
            if has_train and has_dev:
                plan = Part(name, ENGLISH, "train"), Part(name, ENGLISH, "validation")
            elif has_train:
                self._warn(f"{task.name}: {name} has no English dev file; training on half of its train file "
                           "and scoring English dev on the other half")
                plan = Part(name, ENGLISH, "train", 0), Part(name, ENGLISH, "train", 1)
            elif has_dev:
                self._warn(f"{task.name}: {name} has no English train file; TRAINING ON HALF OF ITS ENGLISH DEV "
                           "FILE and scoring dev (and any evaluation of that file) on the other half only")
                plan = Part(name, ENGLISH, "validation", 0), Part(name, ENGLISH, "validation", 1)
            if plan:
                break
        if plan is None:
            raise UserError(f"{task.name}: no English training data in {self.source.describe()} "
                            f"(looked for the train or dev files of {' and '.join(names)})")
        self._plans[task.name] = plan
        return plan

    def _eval_part(self, task: TaskInfo, lang: str) -> Part | None:
        trained = self._plan(task)[0] if task.train_task else None
        passed = None
        for split in ("test", "validation", "train"):
            if not self.source.has(task.name, lang, split):
                passed = passed or self.source.passed_over(task.name, lang, split)
                continue
            if trained and trained.task == task.name and trained.split == split:
                if trained.half is None:
                    continue  # every row trained (in English; the other languages may be its translations)
                part = Part(task.name, lang, split, 1)
            else:
                part = Part(task.name, lang, split)
            if passed:
                self._warn(f"{task.name}: {passed}; {lang} is evaluated on its {split} split instead")
            return part
        if passed:
            self._warn(f"{task.name}: {passed}; {lang} has no other split to evaluate, so it is not evaluated")
        return None

    def languages(self, task: TaskInfo) -> list[str]:
        """Languages of `task` with evaluation data: every language with local files (on the Hub,
        XTREME's), only `benchmark.languages` when given."""
        out = []
        for lang in self.source.languages(task.name):
            if self.only_languages and lang not in self.only_languages:
                continue
            if task.name == "bucc":
                ok = self.source.has("bucc", lang, "validation") or self._labelled_bucc_test(lang)
            else:
                ok = self._eval_part(task, lang) is not None
            if ok:
                out.append(lang)
        return out

    def eval_split(self, task: TaskInfo, lang: str) -> str:
        """The split that `test(task, lang)` reads (the run records it as `data/{task}/{lang}/split`):
        test, else validation (hidden or tokens-only test labels), else train; for BUCC the split F1 is
        measured on (validation when it has no labelled test file: the half the threshold was not
        chosen on). A split that also trained is evaluated on its held-out half (module docstring)."""
        if task.name == "bucc":
            return "test" if self._labelled_bucc_test(lang) else "validation"
        return self._evaluated(task, lang).split

    def _evaluated(self, task: TaskInfo, lang: str) -> Part:
        part = self._eval_part(task, lang)
        if part is None:
            raise UserError(f"{task.name}: no evaluation data for {lang} in {self.source.describe()}")
        return part

    def train(self, task: TaskInfo, translated: bool = False) -> Dataset:
        """English training rows of `task`; with `translated`, followed by every translation of them
        found in local files (`_translations`)."""
        part = self._plan(task)[0]
        rows = self._rows(part)
        if not translated:
            return rows
        english = self.source.load(part.task, ENGLISH, part.split) if part.half is not None else None
        parts = [rows]
        for files in self._translations(task).values():
            ds = files.load(part.task, ENGLISH, part.split)
            parts.append(ds if part.half is None else _halve(get_task(part.task), ds, part.half, english))
        return concatenate_datasets(parts)

    def _translations(self, task: TaskInfo) -> dict[str, LocalFiles]:
        """Translated training data of `task` (translate-train), one folder per language beside its
        English files: `<benchmark.path>/<task folder>/translated/<lang>/`, each holding the English
        training file's translation under the same name and in the same format (so the task's own
        reader reads it, and a halved English file is halved the same way)."""
        local = self.source if isinstance(self.source, LocalFiles) else self.source.local
        name = self._plan(task)[0].task
        if local is None:
            raise UserError("intermediate.translated: translated training data is read from local files: set "
                            "benchmark.path to a folder with <task folder>/translated/<lang>/ in it")
        base = local.root / local.layout(name).folder / "translated"
        split = self._plan(task)[0].split
        found = {}
        for folder in sorted(base.iterdir()) if base.is_dir() else ():
            files = LocalFiles(folder, local.store)
            if folder.name != ENGLISH and self._wanted(folder.name) and files.has(name, ENGLISH, split):
                found[folder.name] = files
        if not found:
            raise UserError(f"intermediate.translated: no translated {name} training data in {base}/<lang>/ "
                            f"(the English {split} file's translation, same name and format)")
        return found

    def dev(self, task: TaskInfo) -> Dataset:
        return self._rows(self._plan(task)[1])

    def test(self, task: TaskInfo, lang: str, split: str = "test") -> Dataset:
        """Evaluation rows of `task` in `lang` (`split` matters for BUCC only: validation or test)."""
        if task.name == "bucc":
            return self._bucc(lang, split)
        if task.name == PROBE_TASK:
            rows = self._tatoeba(lang)
            rows = rows.select(range(len(rows) - self._probe_count(len(rows), self.max_pairs)))
            return cap_retrieval(task, rows, self.eval_cap)
        return self._rows(self._evaluated(task, lang))

    # -- retrieval

    def _tatoeba(self, lang: str) -> Dataset:
        return self.source.load(PROBE_TASK, lang, "test")

    @staticmethod
    def _probe_count(n: int, max_pairs: int) -> int:
        return min(max_pairs, n // 2)

    def parallel(self, max_pairs: int) -> dict[str, tuple[list[str], list[str]]]:
        """Probe pairs: the last `max_pairs` Tatoeba pairs per language (at most half; see `test`)."""
        out = {}
        for lang in self.languages(get_task(PROBE_TASK)):
            rows = self._tatoeba(lang)
            k = self._probe_count(len(rows), max_pairs)
            rows = rows.select(range(len(rows) - k, len(rows)))
            out[lang] = (list(rows["source_sentence"]), list(rows["target_sentence"]))
        return out

    def _labelled_bucc_test(self, lang: str) -> bool:
        return len(self.source.files("bucc", lang, "test")) == 3  # source, English and gold files

    def _bucc(self, lang: str, split: str) -> Dataset:
        if self._labelled_bucc_test(lang):
            rows = self.source.load("bucc", lang, "test" if split == "test" else "validation")
        else:
            self._warn(f"bucc: no labelled test file for {lang}; splitting the dev files by source-sentence id: "
                       "the threshold is chosen on one half and F1 measured on the other")
            rows = self.source.load("bucc", lang, "validation")
            half = 1 if split == "test" else 0
            cols = rows.select_columns(["lang", "id"]).to_dict()
            rows = rows.select([i for i, (l, k) in enumerate(zip(cols["lang"], cols["id"]))
                                if l == ENGLISH or _half_of(k) == half])
        return cap_retrieval(get_task("bucc"), rows, self.eval_cap)


class LocalData(RealData):
    """Task files on disk laid out like shared/realdata (XTREME's released formats)."""

    def __init__(self, spec: Spec, cache_root: Path):
        if not spec.benchmark.path:
            raise UserError("benchmark.path: required when benchmark.kind is 'local'")
        root = Path(spec.benchmark.path).expanduser()
        if not root.is_dir():
            raise UserError(f"benchmark.path: {root} is not a folder (relative paths are relative to the spec "
                            "file's folder)")
        super().__init__(LocalFiles(root.resolve(), Path(cache_root) / "benchmarks" / "local"), spec, cache_root)


class HubData(RealData):
    """The tasks' datasets on the Hugging Face Hub; `check` fails fast (UserError) when the Hub is unusable."""

    def __init__(self, spec: Spec, cache_root: Path):
        local = None
        if spec.benchmark.path:
            root = Path(spec.benchmark.path).expanduser()
            if not root.is_dir():
                raise UserError(f"benchmark.path: {root} is not a folder (it holds the tasks without a Hub source)")
            local = LocalFiles(root.resolve(), Path(cache_root) / "benchmarks" / "local")
        super().__init__(HubDatasets(local), spec, cache_root)
