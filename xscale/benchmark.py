"""Where a trial's data comes from: the embedded synthetic benchmark, local files, or the Hub.

Every source hands out the same things in the same Hub schemas: a task's English training and dev
rows, its test rows per language, the tokenizer, the pretraining corpus and parallel sentences for
the alignment probes.

Real data (`kind: local` or `hub`) is wired as XTREME does zero-shot transfer, with these rules for
data that a folder like `../shared/realdata` only partly has:

- Training (English): the train split of the task's `train_task` (XNLI trains on MNLI, XQuAD and
  MLQA on SQuAD), with that task's dev split for English dev scores. A task with a train file but
  no dev file, or a dev file but no train file, is split deterministically into halves (half 0
  trains, half 1 is the dev set); the second case says so in a warning, because the training rows
  then come from a dev set. When the `train_task` has no English file at all, the task's own
  English files are used the same way.
- Evaluation (every language): the test split, else the dev split (XTREME hides the test labels
  of XNLI, PAWS-X and PAN-X, so their `dev-LANG` files serve as the evaluation data), else the
  train file (TyDiQA-GoldP's Swahili train file: never trained on in zero-shot transfer). A split
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

Relative `benchmark.path` (and a `model.hub_id` that names an existing folder) resolve against the
spec file's folder: `prepare_spec` does it before a sweep starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from datasets import Dataset, concatenate_datasets

from xscale.errors import UserError
from xscale.spec import HUB_SIZES, Choice, Grid, Spec
from xscale.spec import Benchmark as BenchmarkSpec
from xscale.tasks.registry import TASKS, TaskInfo, get_task

ENGLISH = "en"
PROBE_TASK = "tatoeba"

TOKENIZER_VOCAB_SIZE = 8000
"""Vocabulary of the tokenizer trained on the fly for from-scratch models on real data."""
TEXT_CHARS_PER_FILE = 300_000
"""Characters taken from each file (task, language, split) for that tokenizer and the MLM corpus."""
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                   "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}
_FORMAT_VERSION = 1  # bump when the wiring or the text extraction changes what a key stands for

log = logging.getLogger("xscale.benchmark")


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


class SyntheticBenchmark:
    """The embedded benchmark, generated on first use into the shared cache folder."""

    kind = "synthetic"

    def __init__(self, bench_dir: Path, languages: tuple[str, ...] | None = None, eval_cap: int | None = None):
        from xscale import synth

        self._synth = synth
        self.dir = Path(bench_dir)
        self.manifest = synth.read_manifest(self.dir)
        self.key = self.manifest["hash"]
        self.only_languages = languages
        self.eval_cap = eval_cap

    @classmethod
    def ensure(cls, spec: BenchmarkSpec, root: Path, translate_intermediate: bool = False,
               eval_cap: int | None = None) -> "SyntheticBenchmark":
        """The benchmark a spec names, generated under `root` on first use."""
        from xscale import synth

        knobs = dict(spec.knobs)
        if translate_intermediate:
            knobs["translate_intermediate"] = True
        return cls(synth.ensure(root, preset=spec.preset, seed=spec.seed, **knobs), spec.languages, eval_cap)

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
        return cap_retrieval(task, self._task(task.name)[f"{split}.{lang}"], self.eval_cap)

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


# ------------------------------------------------------------------------------------ row sources


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _save(ds: Dataset, tmp: Path) -> None:
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


def _publish_dir(tmp: Path, target: Path) -> None:
    """Rename a finished folder into place; a concurrent writer that got there first wins."""
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


class LocalFiles:
    """Task files laid out like shared/realdata, read by `xscale.tasks.readers` and kept as Arrow
    datasets under the cache, so `datasets`' fingerprint cache serves repeated tokenisation."""

    kind = "local"

    def __init__(self, root: Path, store: Path):
        from xscale.tasks import readers

        self._readers = readers
        self.root = root
        self.store = store
        self._reader_hash = hashlib.sha256(Path(readers.__file__).read_bytes()).hexdigest()[:16]

    def describe(self) -> str:
        return str(self.root)

    def layout(self, task: str):
        return self._readers.LOCAL_LAYOUT[task]

    def has(self, task: str, lang: str, split: str) -> bool:
        return self._readers.has_local(task, self.root, lang, split)

    def files(self, task: str, lang: str, split: str) -> list[Path]:
        return self._readers.local_files(task, self.root, lang, split)

    def identity(self, task: str, lang: str, split: str) -> list:
        """The files (relative to the root) and their sizes: what a tokenizer trained on them depends on."""
        return [[str(f.relative_to(self.root)), f.stat().st_size] for f in self.files(task, lang, split)]

    def load(self, task: str, lang: str, split: str) -> Dataset:
        import datasets

        files = self.files(task, lang, split)
        if not files:
            return self._readers.load_local(task, self.root, lang, split)  # raises the reader's UserError
        stamp = [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
        target = self.store / f"{task}.{lang}.{split}.{_sha([stamp, self._reader_hash])[:20]}"
        if not (target / "state.json").exists():
            ds = self._readers.load_local(task, self.root, lang, split)
            self.store.mkdir(parents=True, exist_ok=True)
            tmp = self.store / f".tmp-{target.name}-{os.getpid()}"
            _save(ds, tmp)
            _publish_dir(tmp, target)
        return datasets.load_from_disk(str(target))


# Hub splits that do not exist or whose labels are hidden (used neither for training nor scoring).
_HUB_MISSING = {
    ("xquad", "train"), ("tatoeba", "train"), ("mlqa", "train"), ("tydiqa", "test"), ("squad", "test"),
    ("squad_v2", "test"), ("mnli", "test"), ("qqp", "test"), ("sst2", "test"), ("hellaswag", "test"),
    ("commonsenseqa", "test"), ("cosmosqa", "test"),
}


class HubDatasets:
    """Datasets from the Hugging Face Hub (`xscale.tasks.readers.load_hub`); tasks without a Hub
    source (BUCC, CCG) come from `local` files when a `benchmark.path` is given."""

    kind = "hub"

    def __init__(self, local: LocalFiles | None):
        from xscale.tasks import readers

        self._readers = readers
        self.local = local

    def describe(self) -> str:
        return "the Hugging Face Hub" + (f" (and {self.local.root} for BUCC/CCG)" if self.local else "")

    def _local_only(self, task: str) -> bool:
        return get_task(task).hub_id is None

    def has(self, task: str, lang: str, split: str) -> bool:
        if self._local_only(task):
            return bool(self.local and self.local.has(task, lang, split))
        return lang in get_task(task).languages and split in ("train", "validation", "test") \
            and (task, split) not in _HUB_MISSING

    def files(self, task: str, lang: str, split: str) -> list[Path]:
        return self.local.files(task, lang, split) if self._local_only(task) and self.local else []

    def identity(self, task: str, lang: str, split: str) -> list:
        if self._local_only(task):
            return self.local.identity(task, lang, split) if self.local else []
        info = get_task(task)
        return [info.hub_id, info.hub_config_for(lang), split]

    def load(self, task: str, lang: str, split: str) -> Dataset:
        if self._local_only(task):
            if self.local is None:
                info = get_task(task)
                raise UserError(f"{task}: no Hub source ({info.license_note}); set benchmark.path to a folder "
                                f"laid out like ../shared/realdata that holds its files")
            return self.local.load(task, lang, split)
        return self._readers.load_hub(task, lang, split)

    def check(self, tasks: list[str]) -> None:
        """Fail fast (a UserError naming a dataset and the local alternative) when the Hub is unusable.

        Offline from the start (HF_HUB_OFFLINE=1 when the libraries were imported), only cached
        datasets load: the first task's dev split is loaded to find out.
        """
        hub_tasks = [t for t in tasks if not self._local_only(t)]
        if not hub_tasks:
            return
        task = get_task(hub_tasks[0])
        lang = ENGLISH if ENGLISH in task.languages else task.languages[0]
        why = self._readers.hub_unavailable()
        if why:
            raise self._readers.hub_error(task.name, lang, "validation", why)
        if self._readers.offline_mode():
            self._readers.load_hub(task.name, lang, "validation")


# ---------------------------------------------------------------------------- the real benchmarks


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


def load_pretrained_tokenizer(source: str):
    """A Hub or local pretrained tokenizer; offline or unreachable Hub: a UserError in seconds."""
    from transformers import AutoTokenizer

    from xscale.tasks import readers

    why = None if Path(source).expanduser().is_dir() else readers.hub_unavailable()
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=bool(why))
    except (OSError, ValueError) as err:
        reason = why or (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"model {source}: cannot load its tokenizer ({reason}); download the model where the Hub "
                        f"is reachable (e.g. `hf download {source} --local-dir DIR`) and set model.hub_id: DIR "
                        "(a local folder with config.json, the tokenizer files and the weights)") from None


def _strings(task: TaskInfo, ds: Dataset, budget: int) -> list[str]:
    """Distinct input texts of a dataset in row order, up to `budget` characters."""
    out: dict[str, None] = {}
    used = 0
    fields = [f for f in task.text_fields if f in ds.column_names]
    for batch in ds.select_columns(fields).iter(batch_size=256):
        for field in fields:
            for value in batch[field]:
                if isinstance(value, dict):
                    items = value.get("text", [])
                elif isinstance(value, list):
                    items = [" ".join(value)] if task.format == "tagging" else value
                else:
                    items = [value]
                for text in items:
                    if text and text not in out:
                        out[text] = None
                        used += len(text)
                        if used >= budget:
                            return list(out)
    return list(out)


def train_tokenizer(texts: list[str], vocab_size: int):
    """A BPE tokenizer in XLM-R's token order (`<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, `<mask>` last),
    Metaspace pre-tokenised (no spaces needed: Chinese and Thai work) and RoBERTa-style pairs."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=2, special_tokens=list(_SPECIALS),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken("<mask>", special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False)
    return tok


def _fast_tokenizer(tokenizer_json: str):
    """A `transformers` fast tokenizer over a `tokenizers` JSON, with XLM-R's special tokens."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer_json),
                                   model_input_names=["input_ids", "attention_mask"], **_SPECIAL_TOKENS)


class RealBenchmark:
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
            for lang in get_task(name).languages:
                if self._wanted(lang):
                    splits = ("train", "validation", "test")
                    parts += [Part(name, lang, s) for s in splits if self.source.has(name, lang, s)]
        return parts

    @cached_property
    def _inventory_key(self) -> str:
        ids = [[p.task, p.lang, p.split, self.source.identity(p.task, p.lang, p.split)] for p in self.inventory()]
        return _sha([_FORMAT_VERSION, self.kind, ids, TEXT_CHARS_PER_FILE])

    @cached_property
    def key(self) -> str:
        """Content id of the data and tokenizer (part of every stage's cache key)."""
        tok = self.tokenizer_source or hashlib.sha256(self._tokenizer_json.encode()).hexdigest()
        return f"{self.kind}:" + _sha([self._inventory_key, self.only_languages, tok])[:32]

    def check(self) -> None:
        """Fail fast on missing data: intermediate tasks need English training data, target tasks
        that train need it too, and every target needs an evaluation language."""
        for name in self.intermediate:
            self._plan(get_task(name))
            if self.translated:
                self._translations(get_task(name))
        for name in self.targets:
            task = get_task(name)
            if task.train_task:
                self._plan(task)
            if not self.languages(task):
                hint = ""
                if self.kind == "hub" and not task.hub_id:
                    hint = (" (it has no Hub source: set benchmark.path to a folder laid out like "
                            "../shared/realdata that holds its files)")
                raise UserError(f"{name}: no evaluation data in {self.source.describe()} for "
                                f"{', '.join(lang for lang in task.languages if self._wanted(lang))}{hint}")
        if PROBE_TASK in self.tasks and not self.languages(get_task(PROBE_TASK)):
            self._warn(f"alignment probes: no Tatoeba files in {self.source.describe()}, so no align/* metrics")

    # -- tokenizer and corpus

    @cached_property
    def tokenizer(self):
        if self.tokenizer_source:
            return load_pretrained_tokenizer(self.tokenizer_source)
        return _fast_tokenizer(self._tokenizer_json)

    @cached_property
    def _tokenizer_json(self) -> str:
        """The on-the-fly tokenizer, trained once per data and vocabulary size and kept under the
        cache (read once, so the tokenizer and `key` always agree)."""
        key = _sha([self._inventory_key, TOKENIZER_VOCAB_SIZE, "bpe-metaspace-nfkc"])[:24]
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
                texts += _strings(get_task(p.task), self.source.load(p.task, p.lang, p.split), TEXT_CHARS_PER_FILE)
            texts = list(dict.fromkeys(texts))
            random.Random(0).shuffle(texts)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
            _save(Dataset.from_dict({"text": texts}), tmp)
            _publish_dir(tmp, target)
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
        for split in ("test", "validation", "train"):
            if not self.source.has(task.name, lang, split):
                continue
            if trained and trained.task == task.name and trained.split == split:
                if trained.half is None:
                    continue  # every row trained (in English; the other languages may be its translations)
                return Part(task.name, lang, split, 1)
            return Part(task.name, lang, split)
        return None

    def languages(self, task: TaskInfo) -> list[str]:
        """Languages of `task` with evaluation data (only `benchmark.languages` when given)."""
        out = []
        for lang in task.languages:
            if self.only_languages and lang not in self.only_languages:
                continue
            if task.name == "bucc":
                ok = self.source.has("bucc", lang, "validation") or self._labelled_bucc_test(lang)
            else:
                ok = self._eval_part(task, lang) is not None
            if ok:
                out.append(lang)
        return out

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
        part = self._eval_part(task, lang)
        if part is None:
            raise UserError(f"{task.name}: no evaluation data for {lang} in {self.source.describe()}")
        return self._rows(part)

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


class LocalBenchmark(RealBenchmark):
    """Task files on disk laid out like shared/realdata (XTREME's released formats)."""

    def __init__(self, spec: Spec, cache_root: Path):
        if not spec.benchmark.path:
            raise UserError("benchmark.path: required when benchmark.kind is 'local'")
        root = Path(spec.benchmark.path).expanduser()
        if not root.is_dir():
            raise UserError(f"benchmark.path: {root} is not a folder (relative paths are relative to the spec "
                            "file's folder)")
        super().__init__(LocalFiles(root.resolve(), Path(cache_root) / "benchmarks" / "local"), spec, cache_root)


class HubBenchmark(RealBenchmark):
    """The tasks' datasets on the Hugging Face Hub; fails fast (UserError) when the Hub is unusable."""

    def __init__(self, spec: Spec, cache_root: Path):
        local = None
        if spec.benchmark.path:
            root = Path(spec.benchmark.path).expanduser()
            if not root.is_dir():
                raise UserError(f"benchmark.path: {root} is not a folder (it holds the tasks without a Hub source)")
            local = LocalFiles(root.resolve(), Path(cache_root) / "benchmarks" / "local")
        super().__init__(HubDatasets(local), spec, cache_root)
        self.source.check(self.tasks)


def make(spec: Spec, cache_root: Path):
    """The data source a spec names (`cache_root` holds generated and materialised data); a real
    benchmark is checked at once (missing data is a UserError, fallbacks are logged)."""
    if spec.benchmark.kind == "synthetic":
        return SyntheticBenchmark.ensure(spec.benchmark, Path(cache_root) / "benchmarks", spec.intermediate.translated,
                                         spec.target.max_eval_examples)
    bench = LocalBenchmark(spec, cache_root) if spec.benchmark.kind == "local" else HubBenchmark(spec, cache_root)
    bench.check()
    return bench


def resolve_spec(spec: Spec, spec_file: str | Path) -> Spec:
    """`spec` with a relative `benchmark.path` (and a `model.hub_id` naming an existing folder) made
    absolute against the spec file's folder, so trials (which run in other folders) find them."""
    base = Path(spec_file).resolve().parent
    updates = {}
    if spec.benchmark.path and not Path(spec.benchmark.path).expanduser().is_absolute():
        path = str((base / Path(spec.benchmark.path).expanduser()).resolve())
        updates["benchmark"] = spec.benchmark.model_copy(update={"path": path})
    hub_id = spec.model.hub_id
    if hub_id and not Path(hub_id).expanduser().is_absolute() and (base / hub_id).is_dir():
        updates["model"] = spec.model.model_copy(update={"hub_id": str((base / hub_id).resolve())})
    return spec.model_copy(update=updates) if updates else spec


def prepare_spec(spec: Spec, spec_file: str | Path, cache_root: Path | None = None) -> Spec:
    """Resolve the spec's paths and check its real data before a sweep starts: a missing folder, a
    task without data, an unusable Hub or an unloadable pretrained tokenizer is a UserError here
    rather than a failure in every trial. Nothing is trained or materialised (`cache_root` only
    names where the benchmark would keep its files; default: the temporary folder)."""
    spec = resolve_spec(spec, spec_file)
    if spec.benchmark.kind == "synthetic":
        return spec
    bench = make(spec, Path(cache_root) if cache_root else Path(tempfile.gettempdir()) / "xscale-cache")
    if bench.tokenizer_source:
        bench.tokenizer  # noqa: B018 - loads (or fails fast) once on the driver
    return spec


def fraction_subset(ds: Dataset, fraction: float, cap: int | None = None) -> Dataset:
    """The first ceil(fraction * N) rows: the subset for fraction f is inside the one for any f' > f."""
    n = min(len(ds), cap) if cap else len(ds)
    return ds.select(range(max(1, math.ceil(fraction * n))))
