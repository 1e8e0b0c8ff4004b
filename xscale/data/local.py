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

Languages are open where file names carry them: every language with files is read (`find_local`),
not only XTREME's, so UD treebanks, PAN-X splits, XNLI-format files and LASER's Tatoeba pairs beyond
XTREME's lists are evaluated too (a LASER code the registry does not map is the language code). A
`test-{lang}.tsv` of UD-POS or PAN-X that holds tokens only, as XTREME's `utils_preprocess.py`
writes the hidden test sets, is passed over (`passed_over` says why), so evaluation falls back to dev.
`xscale tasks --local DIR` prints what a folder holds (`describe_local`).

`LocalFiles` keeps what it read as Arrow datasets under the cache, so `datasets`' fingerprint cache
serves repeated tokenisation.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Mapping
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
_LANG_CODE = r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*"
"""A language code as file names spell it: `de`, `kab` (LASER), `zh-min-nan` (WikiANN)."""
_FROM_LASER = {code: lang for lang, code in TATOEBA_CODES.items()}


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
    hidden_test_labels: bool = False
    """Whether a `test-{lang}.tsv` may be XTREME's tokens-only file (`utils_preprocess.py` hides the
    test labels): such a file is passed over, so evaluation falls back to dev."""

    @property
    def open_languages(self) -> bool:
        """Whether file names carry the language, so any language with files is read (else the
        registry's languages are the only ones: English for the intermediate tasks)."""
        return any("{lang" in pattern for patterns in self.files for pattern in patterns)


LOCAL_LAYOUT: dict[str, LocalLayout] = {
    "xnli": LocalLayout("xnli", (("{split}-{lang}.tsv",),)),
    "pawsx": LocalLayout("pawsx", (("{split}-{lang}.tsv",),)),
    "udpos": LocalLayout(
        "udpos", (("{split}-{lang}.tsv", "{lang}_*-ud-{split}.conllu"),), pooled=True, hidden_test_labels=True
    ),
    "panx": LocalLayout("panx", (("{split}-{lang}.tsv",),), needs_lang=True, hidden_test_labels=True),
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


def unknown_language(task: TaskInfo, lang: str) -> str | None:
    """The problem with `lang` when it is not one of the registry's languages of `task` (XTREME's
    list, which the Hub and the English-only layouts keep to), else None."""
    if lang in task.languages:
        return None
    return f"{task.name}: unknown language {lang!r} (allowed: {', '.join(task.languages)})"


def _invalid(task: str, lang: str, split: str) -> str | None:
    """Why no file can hold this task/language/split whatever the folder holds, else None."""
    info, layout = get_task(task), LOCAL_LAYOUT[task]
    if split not in layout.splits:
        return f"{task}: unknown split {split!r} (allowed: {', '.join(layout.splits)})"
    if not layout.open_languages:
        return unknown_language(info, lang)
    if not re.fullmatch(_LANG_CODE, lang):
        return (f"{task}: {lang!r} is not a language code (allowed: letters, digits and hyphens as in the "
                "file names, e.g. de, kab, zh-min-nan)")
    return None


def _folder(root: Path, layout: LocalLayout) -> Path:
    return root / layout.folder if (root / layout.folder).is_dir() else root


def _names(layout: LocalLayout, lang: str, split: str) -> dict[str, str]:
    return {"split": layout.splits[split], "hub_split": split, "lang": lang, "lang3": TATOEBA_CODES.get(lang, lang)}


def _expected(patterns: tuple[str, ...], names: dict[str, str]) -> str:
    return " or ".join(p.format(**names) for p in patterns)


def _files(folder: Path, pattern: str, names: dict[str, str]) -> list[Path]:
    return sorted(p for p in folder.glob(pattern.format(**names)) if p.is_file())


def _match(folder: Path, patterns: tuple[str, ...], names: dict[str, str]) -> list[Path]:
    """The files of the first pattern that finds any."""
    for pattern in patterns:
        found = _files(folder, pattern, names)
        if found:
            return found
    return []


@functools.lru_cache(maxsize=1024)
def _tokens_only(path: Path, size: int, mtime_ns: int) -> bool:
    """`readers.tokens_only`, read once per version of the file (size and mtime are the cache key)."""
    return readers.tokens_only(path)


def _resolve(task: str, root: Path, lang: str, split: str) -> tuple[list[list[Path] | None] | None, str | None]:
    """The files per reader argument of a valid task/language/split (None for an absent optional
    file) and None; or None and why the files there are not read; (None, None) when the first file
    is absent. Ambiguous or unreadable files are UserErrors: nothing is guessed."""
    layout = LOCAL_LAYOUT[task]
    if root.is_file():
        if len(layout.files) > 1:
            raise UserError(f"{task}: path must be a folder (the task reads several files): {root}")
        return [[root]], None
    if not root.is_dir():
        return None, None
    folder, names = _folder(root, layout), _names(layout, lang, split)
    arguments: list[list[Path] | None] = []
    for position, patterns in enumerate(layout.files):
        found = _match(folder, patterns, names)
        if not found:
            if layout.optional_last and position == len(layout.files) - 1:
                arguments.append(None)
                continue
            return None, (f"no {_expected(patterns, names)} in {folder}" if position else None)
        if len(found) > 1 and not layout.pooled:
            raise UserError(f"{task}: several files match in {folder}: {', '.join(p.name for p in found)}")
        arguments.append(found)
    if layout.hidden_test_labels and split == "test":
        for path in arguments[0]:
            stat = path.stat()
            if path.suffix == ".tsv" and _tokens_only(path, stat.st_size, stat.st_mtime_ns):
                return None, f"{path.name} holds tokens only (XTREME's preprocessing hides the test labels)"
    return arguments, None


def _lookup(task: str, path: str | Path, lang: str, split: str) -> tuple[list[list[Path] | None] | None, str | None]:
    """`_resolve`, with (None, None) for a task/language/split that no file can hold."""
    if _invalid(task, lang, split):
        return None, None
    return _resolve(task, Path(path), lang, split)


def _arguments(task: str, path: str | Path, lang: str, split: str) -> list[list[Path] | None]:
    """`_resolve`, where anything but readable files is a UserError saying what was looked for."""
    problem = _invalid(task, lang, split)
    if problem:
        raise UserError(problem)
    root = Path(path)
    arguments, why = _resolve(task, root, lang, split)
    if arguments is not None:
        return arguments
    if not root.exists():
        raise UserError(f"{task}: local data path does not exist: {root}")
    layout = LOCAL_LAYOUT[task]
    why = why or f"no {_expected(layout.files[0], _names(layout, lang, split))} in {_folder(root, layout)}"
    raise UserError(f"{task}: {why} (lang={lang}, split={split})")


def local_files(task: str, path: str | Path, lang: str, split: str) -> list[Path]:
    """Every file that `load_local` would read for this task/language/split; [] when any required
    file is missing (ANLI+'s MNLI/SNLI train siblings are not listed)."""
    arguments, _ = _lookup(task, path, lang, split)
    return [f for files in arguments or () for f in files or ()]


def has_local(task: str, path: str | Path, lang: str, split: str) -> bool:
    """Whether `load_local(task, path, lang, split)` finds its files (never raises for a missing file)."""
    return _lookup(task, path, lang, split)[0] is not None


def passed_over(task: str, path: str | Path, lang: str, split: str) -> str | None:
    """Why files of this task/language/split are there but not read (XTREME's tokens-only test
    file, a Tatoeba file without its English side), else None."""
    arguments, why = _lookup(task, path, lang, split)
    return why if arguments is None else None


def load_local(task: str, path: str | Path, lang: str, split: str) -> datasets.Dataset:
    """Read one task/language/split from local files in the original format (see module doc)."""
    info = get_task(task)
    layout = LOCAL_LAYOUT[task]
    reader = LOCAL_READERS[info.local_reader]
    extra = (lang,) if layout.needs_lang else ()
    arguments = _arguments(task, path, lang, split)
    root = Path(path)
    if root.is_file():
        return reader(root, *extra)
    if layout.pooled:
        parts = [reader(p, *extra) for p in arguments[0]]
        dataset = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    else:
        dataset = reader(*(a[0] if a else None for a in arguments), *extra)
    if task == "anli" and split == "train":
        dataset = _anli_plus_local(dataset, _folder(root, layout).parent)
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


@dataclass(frozen=True)
class Skipped:
    """A file that looks like one of a task's files but is not read, and why."""

    path: Path
    why: str
    lang: str | None = None
    """The language its name gives, when it gives one."""
    unreadable: bool = False
    """Whether reading it failed: `why` is the data error (with file and line), which loading that
    language raises, rather than the language silently missing."""


@dataclass(frozen=True)
class Found:
    """What a folder holds for one task (`find_local`)."""

    task: str
    splits: Mapping[str, tuple[str, ...]]
    """Language -> the Hub names of the splits whose files are there and read."""
    skipped: tuple[Skipped, ...]
    """Files passed over, with why."""

    @property
    def languages(self) -> list[str]:
        """Languages with files: those read, and those whose files fail to read (see `Skipped.unreadable`)."""
        return sorted(set(self.splits) | {s.lang for s in self.skipped if s.unreadable and s.lang})


def _pattern_regex(pattern: str, names: dict[str, str]) -> re.Pattern:
    """A pattern of `LocalLayout.files` as a regex over paths relative to the task folder, capturing
    the language (`lang`, or `lang3`, the LASER code) with the split as `names` gives it."""
    out, seen = [], set()
    for token in re.split(r"(\*\*/|\*|\{\w+\})", pattern):
        if token == "**/":
            out.append("(?:.*/)?")
        elif token == "*":
            out.append("[^/]*")
        elif token in ("{lang}", "{lang3}"):
            name = token[1:-1]
            out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_LANG_CODE})")
            seen.add(name)
        elif token.startswith("{"):
            out.append(re.escape(names[token[1:-1]]))
        else:
            out.append(re.escape(token))
    return re.compile("".join(out))


def _named_languages(folder: Path, layout: LocalLayout, patterns: list[str]) -> tuple[set[str], dict[Path, str]]:
    """The languages that file names in `folder` give, and the files that look like the task's but
    whose names fit none of its patterns (with why)."""
    languages: set[str] = set()
    unfit: dict[Path, str] = {}
    fits: set[Path] = set()
    for split in layout.splits:
        names = _names(layout, "*", split)
        for pattern in patterns:
            regex = _pattern_regex(pattern, names)
            for path in _files(folder, pattern, names):
                found = regex.fullmatch(path.relative_to(folder).as_posix())
                if found is None:
                    shown = pattern.format(**{**names, "lang": "{lang}", "lang3": "{lang3}"}).removeprefix("**/")
                    unfit.setdefault(path, f"its name does not fit {shown}")
                    continue
                fits.add(path)
                code = found.groupdict()
                languages.add(code["lang"] if "lang" in code else _FROM_LASER.get(code["lang3"], code["lang3"]))
    return languages, {path: why for path, why in unfit.items() if path not in fits}


def find_local(task: str, root: str | Path) -> Found:
    """Every language and split of `task` that a folder laid out like ../shared/realdata holds, and
    the files it passes over with why.

    Where file names carry the language, every language with files is found, not only XTREME's; a
    Tatoeba LASER code (`tatoeba.kab-eng.kab`) that the registry does not map to an ISO code is the
    language code itself. Elsewhere (the English intermediate tasks) the registry's languages are
    looked for.
    """
    root, layout = Path(root), LOCAL_LAYOUT[task]
    if not root.is_dir():
        return Found(task, {}, ())
    folder = _folder(root, layout)
    patterns = [pattern for argument in layout.files for pattern in argument]
    if layout.open_languages:
        candidates, unfit = _named_languages(folder, layout, patterns)
    else:
        candidates, unfit = set(get_task(task).languages), {}
    splits: dict[str, list[str]] = {}
    read: set[Path] = set()
    skipped: dict[Path, Skipped] = {}
    for lang in sorted(candidates):
        for split in layout.splits:
            names = _names(layout, lang, split)
            present = {path for pattern in patterns for path in _files(folder, pattern, names)}
            if not present:
                continue
            try:
                arguments, why = _resolve(task, root, lang, split)
            except UserError as err:
                for path in present:
                    skipped.setdefault(path, Skipped(path, str(err), lang, unreadable=True))
                continue
            if arguments is None:
                why = why or f"no {_expected(layout.files[0], names)} beside it"
                for path in present:
                    skipped.setdefault(path, Skipped(path, why, lang))
                continue
            splits.setdefault(lang, []).append(split)
            these = {f for files in arguments for f in files or ()}
            read |= these
            instead = f"{', '.join(sorted(f.name for f in these))} read instead"
            for path in present - these:
                skipped.setdefault(path, Skipped(path, instead, lang))
    for path, why in unfit.items():
        skipped.setdefault(path, Skipped(path, why))
    return Found(task, {lang: tuple(s) for lang, s in splits.items()},
                 tuple(s for path, s in sorted(skipped.items()) if path not in read))


def describe_local(root: str | Path) -> str:
    """`xscale tasks --local DIR`: per task, the languages found with their splits (languages outside
    XTREME's list marked), then every file passed over with why."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--local: {root} is not a folder (allowed: a folder laid out like ../shared/realdata)")
    found = [find_local(task, root) for task in LOCAL_LAYOUT]
    width = max(len(f.task) for f in found)
    lines = [f"local data in {root} (* marks a language outside XTREME's list: scored apart, in xtreme/score_all)"]
    for f in found:
        xtreme = get_task(f.task).languages
        groups: dict[tuple[str, ...], list[str]] = {}
        for lang in sorted(f.splits):
            groups.setdefault(f.splits[lang], []).append(lang if lang in xtreme else f"{lang}*")
        shown = "; ".join(f"{' '.join(langs)}: {', '.join(s)}" for s, langs in groups.items()) or "nothing found"
        lines.append(f"{f.task.ljust(width)}  {len(f.splits):>3}  {shown}")
    skipped = [(f.task, s) for f in found for s in f.skipped]
    if skipped:
        lines.append("skipped:")
        lines += [f"  {task.ljust(width)}  {s.why if s.unreadable else f'{s.path.relative_to(root)}: {s.why}'}"
                  for task, s in skipped]
    return "\n".join(lines)


class LocalFiles:
    """Task files laid out like shared/realdata, read by `xscale.tasks.readers` and kept as Arrow
    datasets under the cache, so `datasets`' fingerprint cache serves repeated tokenisation."""

    kind = "local"

    def __init__(self, root: Path, store: Path):
        self.root = root
        self.store = store
        self._reader_hash = hashlib.sha256(Path(readers.__file__).read_bytes()).hexdigest()[:16]
        self._found: dict[str, Found] = {}

    def describe(self) -> str:
        return str(self.root)

    def layout(self, task: str):
        return LOCAL_LAYOUT[task]

    def languages(self, task: str) -> list[str]:
        """Languages with files for `task`: any language, not only XTREME's (`find_local`)."""
        if task not in self._found:
            self._found[task] = find_local(task, self.root)
        return self._found[task].languages

    def has(self, task: str, lang: str, split: str) -> bool:
        return has_local(task, self.root, lang, split)

    def passed_over(self, task: str, lang: str, split: str) -> str | None:
        return passed_over(task, self.root, lang, split)

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
