"""Task files on disk, laid out like `../shared/realdata` (XTREME's released formats).

`load_local(task, path, lang, split)` finds a task's files under a realdata-style root (or in the
task's own folder, or for single-file tasks the file itself) and reads them with the task's reader
from `xscale.tasks.readers`. File names per task, where {split} is the file-name form of the split
(`train`, `dev`, `test` unless noted) and {lang3} the LASER code of Tatoeba:

| task | folder | files |
|---|---|---|
| xnli | xnli/ | `{split}-{lang}.tsv`: premise, hypothesis, label name |
| pawsx | pawsx/ | `{split}-{lang}.tsv`: sentence1, sentence2, 0/1 (optional `id` header) |
| udpos | udpos/ | `{split}-{lang}.tsv` (token, UPOS), else every `{lang}_*-ud-{split}.conllu` pooled |
| panx | panx/ | `{split}-{lang}.tsv`: token (optionally `lang:`-prefixed), IOB2 tag |
| xquad | xquad/ | `xquad.{lang}.json` (the one split: validation or test) |
| mlqa | mlqa/ | `{split}-context-{lang}-question-{lang}.json`, also in subfolders (`MLQA_V1/dev/`) |
| tydiqa | tydiqa/ | `tydiqa.goldp.{lang}.{split}.json`, also in subfolders (`tydiqa-goldp-v1.1-dev/`) |
| bucc | bucc2018/ | `{lang}-en.{split}.{lang}`, `{lang}-en.{split}.en` (`id<TAB>sentence`), `{lang}-en.{split}.gold` |
| tatoeba | tatoeba/ | `tatoeba.{lang3}-eng.{lang3}` and `tatoeba.{lang3}-eng.eng` (any split name) |
| squad, squad_v2 | intermediate/squad/ | `{split}-v1.1.json` / `{split}-v2.0.json` (or `*v1.1*{split}*.json`) |
| mnli | intermediate/mnli/ | GLUE TSV `train.tsv`, `dev_matched.tsv` (validation), `dev_mismatched.tsv` |
| qqp | intermediate/qqp/ | GLUE TSV `{split}.tsv` |
| sst2 | intermediate/sst2/ | GLUE TSV `{split}.tsv` (or `{split}.*.tsv`) |
| anli | intermediate/anli/ | `{split}_r1*.jsonl`..`_r3*` or `R1/{split}.jsonl`..; train adds MNLI and SNLI |
| hellaswag | intermediate/hellaswag/ | `hellaswag_{split}.jsonl` or `{split}*.jsonl`, split `val` for validation |
| cosmosqa | intermediate/cosmosqa/ | `{split}.csv`, split `valid` for validation |
| commonsenseqa | intermediate/commonsenseqa/ | `{split}_rand_split.jsonl` (original) or `validation*.jsonl` (Hub rows) |
| ccg | intermediate/ccg/ | `{split}.tsv`: word, supertag (from the user's licensed CCGbank) |

`LocalFiles` keeps what it read as Arrow datasets under the cache, so `datasets`' fingerprint cache
serves repeated tokenisation.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import Dataset, load_from_disk

from xscale.data.base import content_sha, publish_dir, save_dataset
from xscale.errors import UserError
from xscale.tasks import readers
from xscale.tasks.readers import LOCAL_READERS, anli_plus, read_mnli_tsv, read_snli_jsonl
from xscale.tasks.registry import TATOEBA_CODES, TaskInfo, get_task

_SPLITS = {"train": "train", "validation": "dev", "test": "test"}


@dataclass(frozen=True)
class LocalLayout:
    """Where a task's files live under a realdata-style root and how they are named."""

    folder: str
    """Folder of the task relative to the root."""
    files: tuple[tuple[str, ...], ...]
    """Glob patterns per reader argument, tried in order; the first that matches wins."""
    splits: dict[str, str] = field(default_factory=lambda: dict(_SPLITS))
    """Hub split name -> the split's name inside file names."""
    pooled: bool = False
    """Whether several files matching one pattern are read and concatenated (treebanks, rounds)."""
    optional_last: bool = False
    """Whether the last file may be absent (BUCC's gold file for the hidden test set)."""
    needs_lang: bool = False
    """Whether the reader takes the language as its last argument."""


LOCAL_LAYOUT: dict[str, LocalLayout] = {
    "xnli": LocalLayout("xnli", (("{split}-{lang}.tsv",),)),
    "pawsx": LocalLayout("pawsx", (("{split}-{lang}.tsv",),)),
    "udpos": LocalLayout(
        "udpos", (("{split}-{lang}.tsv", "{lang}_*-ud-{split}.conllu"),), pooled=True
    ),
    "panx": LocalLayout("panx", (("{split}-{lang}.tsv",),), needs_lang=True),
    # XQuAD and Tatoeba are single evaluation sets; "validation" and "test" both name them.
    "xquad": LocalLayout(
        "xquad", (("xquad.{lang}.json",),), splits={"validation": "dev", "test": "dev"}
    ),
    "mlqa": LocalLayout(
        "mlqa",
        (("**/{split}-context-{lang}-question-{lang}.json",),),
        splits={"validation": "dev", "test": "test"},
    ),
    "tydiqa": LocalLayout(
        "tydiqa",
        (("**/tydiqa.goldp.{lang}.{split}.json",),),
        splits={"train": "train", "validation": "dev"},
    ),
    "bucc": LocalLayout(
        "bucc2018",
        (("{lang}-en.{split}.{lang}",), ("{lang}-en.{split}.en",), ("{lang}-en.{split}.gold",)),
        splits={"validation": "dev", "test": "test"},
        optional_last=True,
    ),
    "tatoeba": LocalLayout(
        "tatoeba",
        (("tatoeba.{lang3}-eng.{lang3}",), ("tatoeba.{lang3}-eng.eng",)),
        splits={"validation": "test", "test": "test"},
    ),
    "squad": LocalLayout(
        "intermediate/squad",
        (("{split}-v1.1.json", "*v1.1*{split}*.json", "*{split}*v1.1*.json"),),
        splits={"train": "train", "validation": "dev"},
    ),
    "squad_v2": LocalLayout(
        "intermediate/squad",
        (("{split}-v2.0.json", "*v2.0*{split}*.json", "*{split}*v2.0*.json"),),
        splits={"train": "train", "validation": "dev"},
    ),
    "mnli": LocalLayout(
        "intermediate/mnli",
        (("{split}.tsv",),),
        splits={
            "train": "train",
            "validation": "dev_matched",
            "validation_matched": "dev_matched",
            "validation_mismatched": "dev_mismatched",
            "test": "test_matched",
            "test_matched": "test_matched",
            "test_mismatched": "test_mismatched",
        },
    ),
    "qqp": LocalLayout("intermediate/qqp", (("{split}.tsv",),)),
    "sst2": LocalLayout("intermediate/sst2", (("{split}.tsv", "{split}.*.tsv"),)),
    "anli": LocalLayout(
        "intermediate/anli", (("{split}_r[123]*.jsonl", "R[123]/{split}.jsonl"),), pooled=True
    ),
    "hellaswag": LocalLayout(
        "intermediate/hellaswag",
        (("hellaswag_{split}.jsonl", "{split}.jsonl", "{split}.*.jsonl"),),
        splits={"train": "train", "validation": "val", "test": "test"},
    ),
    "cosmosqa": LocalLayout(
        "intermediate/cosmosqa",
        (("{split}.csv",),),
        splits={"train": "train", "validation": "valid", "test": "test"},
    ),
    "commonsenseqa": LocalLayout(
        "intermediate/commonsenseqa",
        (("{split}_rand_split.jsonl", "{hub_split}.jsonl", "{hub_split}.*.jsonl"),),
    ),
    "ccg": LocalLayout("intermediate/ccg", (("{split}.tsv", "ccg.{split}.tsv"),)),
}

# ANLI+ (Phang et al. 2020) trains on ANLI R1-R3 together with MNLI and SNLI.
_SNLI_TRAIN = ("snli_1.0_train.jsonl", "train.jsonl")


def check_language(task: TaskInfo, lang: str) -> None:
    if lang not in task.languages:
        raise UserError(
            f"{task.name}: unknown language {lang!r} (allowed: {', '.join(task.languages)})"
        )


def _check_split(task: str, layout: LocalLayout, split: str) -> str:
    if split not in layout.splits:
        raise UserError(f"{task}: unknown split {split!r} (allowed: {', '.join(layout.splits)})")
    return layout.splits[split]


def _match(folder: Path, patterns: tuple[str, ...], names: dict[str, str]) -> list[Path]:
    for pattern in patterns:
        found = sorted(p for p in folder.glob(pattern.format(**names)) if p.is_file())
        if found:
            return found
    return []


def _local_arguments(
    task: str, path: str | Path, lang: str, split: str, strict: bool
) -> list[list[Path] | None] | None:
    """The files per reader argument of one task/language/split (None per absent optional file).

    A missing file is a UserError when `strict`, else the answer is None.
    """
    info = get_task(task)
    layout = LOCAL_LAYOUT[task]
    if not strict and (lang not in info.languages or split not in layout.splits):
        return None
    check_language(info, lang)
    file_split = _check_split(task, layout, split)
    root = Path(path)
    if root.is_file():
        if len(layout.files) > 1:
            raise UserError(f"{task}: path must be a folder (the task reads several files): {root}")
        return [[root]]
    if not root.is_dir():
        if not strict:
            return None
        raise UserError(f"{task}: local data path does not exist: {root}")
    folder = root / layout.folder if (root / layout.folder).is_dir() else root
    names = {"split": file_split, "hub_split": split, "lang": lang, "lang3": TATOEBA_CODES.get(lang, lang)}
    arguments: list[list[Path] | None] = []
    for position, patterns in enumerate(layout.files):
        found = _match(folder, patterns, names)
        optional = layout.optional_last and position == len(layout.files) - 1
        if not found and not optional:
            if not strict:
                return None
            expected = " or ".join(p.format(**names) for p in patterns)
            raise UserError(f"{task}: no {expected} in {folder} (lang={lang}, split={split})")
        if len(found) > 1 and not layout.pooled:
            raise UserError(f"{task}: several files match in {folder}: {', '.join(p.name for p in found)}")
        arguments.append(found or None)
    return arguments


def local_files(task: str, path: str | Path, lang: str, split: str) -> list[Path]:
    """Every file that `load_local` would read for this task/language/split; [] when any required
    file is missing (ANLI+'s MNLI/SNLI train siblings are not listed)."""
    arguments = _local_arguments(task, path, lang, split, strict=False)
    return [f for files in arguments or () for f in files or ()]


def has_local(task: str, path: str | Path, lang: str, split: str) -> bool:
    """Whether `load_local(task, path, lang, split)` finds its files (never raises for a missing file)."""
    return _local_arguments(task, path, lang, split, strict=False) is not None


def load_local(task: str, path: str | Path, lang: str, split: str) -> datasets.Dataset:
    """Read one task/language/split from local files in the original format (see module doc)."""
    info = get_task(task)
    layout = LOCAL_LAYOUT[task]
    reader = LOCAL_READERS[info.local_reader]
    extra = (lang,) if layout.needs_lang else ()
    arguments = _local_arguments(task, path, lang, split, strict=True)
    root = Path(path)
    if root.is_file():
        return reader(root, *extra)
    if layout.pooled:
        parts = [reader(p, *extra) for p in arguments[0]]
        dataset = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    else:
        dataset = reader(*(a[0] if a else None for a in arguments), *extra)
    if task == "anli" and split == "train":
        folder = root / layout.folder if (root / layout.folder).is_dir() else root
        dataset = _anli_plus_local(dataset, folder.parent)
    return dataset


def _anli_plus_local(anli: datasets.Dataset, siblings: Path) -> datasets.Dataset:
    mnli_files = _match(siblings / "mnli", ("train.tsv",), {})
    snli_files = _match(siblings / "snli", _SNLI_TRAIN, {})
    if not mnli_files or not snli_files:
        raise UserError(
            f"anli: the ANLI+ train split also needs {siblings / 'mnli' / 'train.tsv'} and "
            f"{siblings / 'snli' / _SNLI_TRAIN[0]}"
        )
    return anli_plus(anli, read_mnli_tsv(mnli_files[0]), read_snli_jsonl(snli_files[0]))


class LocalFiles:
    """Task files laid out like shared/realdata, read by `xscale.tasks.readers` and kept as Arrow
    datasets under the cache, so `datasets`' fingerprint cache serves repeated tokenisation."""

    kind = "local"

    def __init__(self, root: Path, store: Path):
        self.root = root
        self.store = store
        self._reader_hash = hashlib.sha256(Path(readers.__file__).read_bytes()).hexdigest()[:16]

    def describe(self) -> str:
        return str(self.root)

    def layout(self, task: str):
        return LOCAL_LAYOUT[task]

    def has(self, task: str, lang: str, split: str) -> bool:
        return has_local(task, self.root, lang, split)

    def files(self, task: str, lang: str, split: str) -> list[Path]:
        return local_files(task, self.root, lang, split)

    def identity(self, task: str, lang: str, split: str) -> list:
        """The files (relative to the root) and their sizes: what a tokenizer trained on them depends on."""
        return [[str(f.relative_to(self.root)), f.stat().st_size] for f in self.files(task, lang, split)]

    def load(self, task: str, lang: str, split: str) -> Dataset:
        files = self.files(task, lang, split)
        if not files:
            return load_local(task, self.root, lang, split)  # raises the reader's UserError
        stamp = [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
        target = self.store / f"{task}.{lang}.{split}.{content_sha([stamp, self._reader_hash])[:20]}"
        if not (target / "state.json").exists():
            ds = load_local(task, self.root, lang, split)
            self.store.mkdir(parents=True, exist_ok=True)
            tmp = self.store / f".tmp-{target.name}-{os.getpid()}"
            save_dataset(ds, tmp)
            publish_dir(tmp, target)
        return load_from_disk(str(target))
