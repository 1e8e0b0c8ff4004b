"""Readers for the tasks' original file formats and the Hub, all yielding the Hub schema.

Every reader returns a `datasets.Dataset` whose features equal `FEATURES[task]` (the Hub schema of
the dataset the registry names), so the same collators and metrics serve local files, the Hub and
the synthetic benchmark. Reader mistakes in the data (an unknown label, a line without a tab) are
reported as a UserError naming the file and line.

`load_local(task, path, lang, split)` expects `path` laid out like `../shared/realdata` (or to be
the task's own folder, or for single-file tasks the file itself). File names per task, where
{split} is the file-name form of the split (`train`, `dev`, `test` unless noted) and {lang3} the
LASER code of Tatoeba:

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
"""

from __future__ import annotations

import csv
import json
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import ClassLabel, Features, List, Value

from xscale.errors import UserError
from xscale.tasks.registry import (
    LANGUAGE_NAMES,
    NLI_LABELS,
    PANX_TAGS,
    TATOEBA_CODES,
    UPOS_TAGS,
    TaskInfo,
    get_task,
)

_STR = Value("string")
_I32 = Value("int32")
_NLI = ClassLabel(names=list(NLI_LABELS))
_SQUAD = Features(
    {
        "id": _STR,
        "title": _STR,
        "context": _STR,
        "question": _STR,
        "answers": {"text": List(_STR), "answer_start": List(_I32)},
    }
)

FEATURES: dict[str, Features] = {
    "xnli": Features({"premise": _STR, "hypothesis": _STR, "label": _NLI}),
    "mnli": Features({"premise": _STR, "hypothesis": _STR, "label": _NLI, "idx": _I32}),
    "anli": Features({"uid": _STR, "premise": _STR, "hypothesis": _STR, "label": _NLI}),
    "qqp": Features(
        {
            "question1": _STR,
            "question2": _STR,
            "label": ClassLabel(names=["not_duplicate", "duplicate"]),
            "idx": _I32,
        }
    ),
    "sst2": Features(
        {"sentence": _STR, "label": ClassLabel(names=["negative", "positive"]), "idx": _I32}
    ),
    "pawsx": Features(
        {"id": _I32, "sentence1": _STR, "sentence2": _STR, "label": ClassLabel(names=["0", "1"])}
    ),
    "udpos": Features({"tokens": List(_STR), "pos_tags": List(ClassLabel(names=list(UPOS_TAGS)))}),
    "panx": Features(
        {
            "tokens": List(_STR),
            "ner_tags": List(ClassLabel(names=list(PANX_TAGS))),
            "langs": List(_STR),
        }
    ),
    "squad": _SQUAD,
    "squad_v2": _SQUAD,
    "xquad": _SQUAD,
    "mlqa": _SQUAD,
    "tydiqa": _SQUAD,
    "hellaswag": Features(
        {
            "ind": _I32,
            "activity_label": _STR,
            "ctx_a": _STR,
            "ctx_b": _STR,
            "ctx": _STR,
            "endings": List(_STR),
            "source_id": _STR,
            "split": _STR,
            "split_type": _STR,
            "label": _STR,
        }
    ),
    "cosmosqa": Features(
        {
            "id": _STR,
            "context": _STR,
            "question": _STR,
            "answer0": _STR,
            "answer1": _STR,
            "answer2": _STR,
            "answer3": _STR,
            "label": _I32,
        }
    ),
    "commonsenseqa": Features(
        {
            "id": _STR,
            "question": _STR,
            "question_concept": _STR,
            "choices": {"label": List(_STR), "text": List(_STR)},
            "answerKey": _STR,
        }
    ),
    "ccg": Features({"tokens": List(_STR), "ccg_tags": List(_STR)}),
    "tatoeba": Features(
        {"source_sentence": _STR, "target_sentence": _STR, "source_lang": _STR, "target_lang": _STR}
    ),
    "bucc": Features({"id": _STR, "lang": _STR, "sentence": _STR, "gold": _STR}),
}


def _data_error(path: Path, lineno: int | None, problem: str) -> UserError:
    where = f"{path}:{lineno}" if lineno is not None else str(path)
    return UserError(f"{where}: {problem}")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines without their line ending; a missing file is a user error."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for lineno, line in enumerate(handle, start=1):
                yield lineno, line.rstrip("\r\n")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for lineno, line in _lines(path):
        if line.strip():
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                raise _data_error(path, lineno, f"not JSON ({err.msg})") from None


def _label(names: tuple[str, ...] | list[str], value: str, path: Path, lineno: int) -> int:
    try:
        return list(names).index(value)
    except ValueError:
        raise _data_error(path, lineno, f"label {value!r} (allowed: {', '.join(names)})") from None


def _tsv_fields(path: Path, lineno: int, line: str, at_least: int) -> list[str]:
    fields = line.split("\t")
    if len(fields) < at_least:
        raise _data_error(path, lineno, f"expected {at_least} tab-separated fields, got {len(fields)}")
    return fields


def _dataset(rows: dict[str, list], task: str) -> datasets.Dataset:
    return datasets.Dataset.from_dict(rows, features=FEATURES[task])


def read_xnli_tsv(path: str | Path) -> datasets.Dataset:
    """XTREME's XNLI TSV: `premise<TAB>hypothesis<TAB>label name`, no header."""
    path = Path(path)
    rows: dict[str, list] = {"premise": [], "hypothesis": [], "label": []}
    for lineno, line in _lines(path):
        if not line or (lineno == 1 and line.startswith("premise\t")):
            continue
        premise, hypothesis, label = _tsv_fields(path, lineno, line, 3)[:3]
        rows["premise"].append(premise)
        rows["hypothesis"].append(hypothesis)
        rows["label"].append(_label(NLI_LABELS, label.strip(), path, lineno))
    return _dataset(rows, "xnli")


def read_pawsx_tsv(path: str | Path) -> datasets.Dataset:
    """PAWS-X TSV: XTREME's `sentence1<TAB>sentence2<TAB>0|1`, or the original with an `id` header."""
    path = Path(path)
    rows: dict[str, list] = {"id": [], "sentence1": [], "sentence2": [], "label": []}
    has_id = False
    for lineno, line in _lines(path):
        if lineno == 1 and line.startswith("id\t"):
            has_id = True
            continue
        if not line:
            continue
        fields = _tsv_fields(path, lineno, line, 4 if has_id else 3)
        if has_id:
            row_id, sentence1, sentence2, label = fields[:4]
        else:
            row_id, (sentence1, sentence2, label) = str(len(rows["id"])), fields[:3]
        rows["id"].append(int(row_id))
        rows["sentence1"].append(sentence1)
        rows["sentence2"].append(sentence2)
        rows["label"].append(_label(("0", "1"), label.strip(), path, lineno))
    return _dataset(rows, "pawsx")


def _read_token_tag_tsv(path: Path, tags: tuple[str, ...] | None) -> tuple[list, list]:
    """Sentences of `token<TAB>tag` lines separated by blank lines; tags checked when given."""
    sentences, sentence_tags = [], []
    tokens: list[str] = []
    labels: list = []
    for lineno, line in _lines(path):
        if not line.strip():
            if tokens:
                sentences.append(tokens)
                sentence_tags.append(labels)
                tokens, labels = [], []
            continue
        fields = _tsv_fields(path, lineno, line, 2)
        tokens.append(fields[0])
        tag = fields[-1].strip()
        labels.append(tag if tags is None else _label(tags, tag, path, lineno))
    if tokens:
        sentences.append(tokens)
        sentence_tags.append(labels)
    return sentences, sentence_tags


def read_udpos_tsv(path: str | Path) -> datasets.Dataset:
    """XTREME's UD-POS TSV: `token<TAB>UPOS`, a blank line between sentences."""
    tokens, tags = _read_token_tag_tsv(Path(path), UPOS_TAGS)
    return _dataset({"tokens": tokens, "pos_tags": tags}, "udpos")


def read_udpos_conllu(path: str | Path) -> datasets.Dataset:
    """A CoNLL-U treebank: FORM and UPOS (columns 2 and 4) of the syntactic words.

    Multiword-token lines (`1-2`) and empty nodes (`1.1`) are skipped, so the tokens are the
    words that carry UPOS, as in XTREME's preprocessing.
    """
    path = Path(path)
    sentences, sentence_tags = [], []
    tokens: list[str] = []
    tags: list[int] = []
    for lineno, line in _lines(path):
        if not line.strip():
            if tokens:
                sentences.append(tokens)
                sentence_tags.append(tags)
                tokens, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = _tsv_fields(path, lineno, line, 10)
        if "-" in fields[0] or "." in fields[0]:
            continue
        tokens.append(fields[1])
        tags.append(_label(UPOS_TAGS, fields[3], path, lineno))
    if tokens:
        sentences.append(tokens)
        sentence_tags.append(tags)
    return _dataset({"tokens": sentences, "pos_tags": sentence_tags}, "udpos")


def read_udpos(path: str | Path) -> datasets.Dataset:
    """UD-POS from either format, chosen by the file suffix (`.conllu` or XTREME's `.tsv`)."""
    path = Path(path)
    return read_udpos_conllu(path) if path.suffix == ".conllu" else read_udpos_tsv(path)


def read_panx_tsv(path: str | Path, lang: str) -> datasets.Dataset:
    """PAN-X (WikiANN) TSV: `token<TAB>IOB2 tag`; the original's `lang:` token prefix is removed."""
    path = Path(path)
    tokens, tags = _read_token_tag_tsv(path, PANX_TAGS)
    prefix = f"{lang}:"
    tokens = [[t[len(prefix):] if t.startswith(prefix) else t for t in sent] for sent in tokens]
    langs = [[lang] * len(sent) for sent in tokens]
    return _dataset({"tokens": tokens, "ner_tags": tags, "langs": langs}, "panx")


def read_squad_json(path: str | Path) -> datasets.Dataset:
    """SQuAD-format JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP), one row per question.

    Contexts and answers are kept verbatim so that `answer_start` stays a valid character
    offset; unanswerable SQuAD v2.0 questions get empty answer lists. Ids must be unique for the
    QA metrics, which match predictions to answers by id: a repeated id (some TyDiQA-GoldP
    exports number the questions of each article from 0) gets `-N` added, N being the row number.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            articles = json.load(handle)["data"]
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise _data_error(path, None, "not SQuAD-format JSON (expected {'data': [...]})") from None
    rows: dict[str, list] = {k: [] for k in ("id", "title", "context", "question", "answers")}
    seen: set[str] = set()
    for article in articles:
        title = article.get("title", "")
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa["answers"]
                qid = str(qa["id"])
                while qid in seen:
                    qid = f"{qid}-{len(rows['id'])}"
                seen.add(qid)
                rows["id"].append(qid)
                rows["title"].append(title)
                rows["context"].append(paragraph["context"])
                rows["question"].append(qa["question"])
                rows["answers"].append(
                    {
                        "text": [a["text"] for a in answers],
                        "answer_start": [int(a["answer_start"]) for a in answers],
                    }
                )
    return _dataset(rows, "squad")


def _glue_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """GLUE TSV rows keyed by the header; GLUE files are unquoted, so quotes are literal text."""
    header: list[str] | None = None
    for lineno, line in _lines(path):
        if header is None:
            header = line.split("\t")
            continue
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise _data_error(path, lineno, f"expected {len(header)} fields, got {len(fields)}")
        yield lineno, dict(zip(header, fields))


def _require_columns(path: Path, row: dict[str, str], columns: tuple[str, ...], lineno: int) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise _data_error(path, lineno, f"missing GLUE columns {', '.join(missing)}")


def read_mnli_tsv(path: str | Path) -> datasets.Dataset:
    """GLUE MNLI TSV (`sentence1`, `sentence2`, `gold_label` columns); the test set's label is -1."""
    path = Path(path)
    rows: dict[str, list] = {"premise": [], "hypothesis": [], "label": [], "idx": []}
    for lineno, row in _glue_rows(path):
        _require_columns(path, row, ("sentence1", "sentence2"), lineno)
        rows["premise"].append(row["sentence1"])
        rows["hypothesis"].append(row["sentence2"])
        gold = row.get("gold_label")
        rows["label"].append(-1 if gold is None else _label(NLI_LABELS, gold, path, lineno))
        rows["idx"].append(len(rows["idx"]))
    return _dataset(rows, "mnli")


def read_qqp_tsv(path: str | Path) -> datasets.Dataset:
    """GLUE QQP TSV (`question1`, `question2`, `is_duplicate`); the test set's label is -1."""
    path = Path(path)
    rows: dict[str, list] = {"question1": [], "question2": [], "label": [], "idx": []}
    for lineno, row in _glue_rows(path):
        _require_columns(path, row, ("question1", "question2"), lineno)
        rows["question1"].append(row["question1"])
        rows["question2"].append(row["question2"])
        gold = row.get("is_duplicate")
        rows["label"].append(-1 if gold is None else _label(("0", "1"), gold, path, lineno))
        rows["idx"].append(len(rows["idx"]))
    return _dataset(rows, "qqp")


def read_sst2_tsv(path: str | Path) -> datasets.Dataset:
    """GLUE SST-2 TSV (`sentence`, `label` 0/1); the test set's label is -1."""
    path = Path(path)
    rows: dict[str, list] = {"sentence": [], "label": [], "idx": []}
    for lineno, row in _glue_rows(path):
        _require_columns(path, row, ("sentence",), lineno)
        rows["sentence"].append(row["sentence"])
        gold = row.get("label")
        rows["label"].append(-1 if gold is None else _label(("0", "1"), gold, path, lineno))
        rows["idx"].append(len(rows["idx"]))
    return _dataset(rows, "sst2")


_ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}


def read_anli_jsonl(path: str | Path) -> datasets.Dataset:
    """One ANLI round as released: JSON lines with uid, premise (`context` in the original
    release), hypothesis and label `e`/`n`/`c`."""
    path = Path(path)
    rows: dict[str, list] = {"uid": [], "premise": [], "hypothesis": [], "label": []}
    for lineno, record in _jsonl(path):
        label = _ANLI_LABELS.get(record["label"], record["label"])
        rows["uid"].append(str(record["uid"]))
        rows["premise"].append(record.get("premise", record.get("context")))
        rows["hypothesis"].append(record["hypothesis"])
        rows["label"].append(_label(NLI_LABELS, label, path, lineno))
    return _dataset(rows, "anli")


def _read_snli_jsonl(path: Path) -> datasets.Dataset:
    """SNLI 1.0 JSON lines in the ANLI schema, without the pairs that lack a gold label (`-`)."""
    rows: dict[str, list] = {"uid": [], "premise": [], "hypothesis": [], "label": []}
    for lineno, record in _jsonl(path):
        if record["gold_label"] == "-":
            continue
        rows["uid"].append(f"snli-{record.get('pairID', lineno)}")
        rows["premise"].append(record["sentence1"])
        rows["hypothesis"].append(record["sentence2"])
        rows["label"].append(_label(NLI_LABELS, record["gold_label"], path, lineno))
    return _dataset(rows, "anli")


def read_hellaswag_jsonl(path: str | Path) -> datasets.Dataset:
    """HellaSwag JSON lines, original release or the preprocessed form (`ctx`, `endings`, `label`).

    The preprocessed form has no `ctx_a`/`ctx_b` split, so `ctx_a` holds the whole context and
    `ctx_b` is empty; missing metadata become empty strings.
    """
    path = Path(path)
    names = FEATURES["hellaswag"]
    rows: dict[str, list] = {k: [] for k in names}
    for lineno, record in _jsonl(path):
        endings = record.get("endings")
        if not isinstance(endings, list) or len(endings) != 4:
            raise _data_error(path, lineno, "expected `endings` to be a list of 4 strings")
        ctx = record.get("ctx") or f"{record.get('ctx_a', '')} {record.get('ctx_b', '')}".strip()
        rows["ind"].append(int(record.get("ind", record.get("ind_in_val_order", lineno - 1))))
        rows["activity_label"].append(record.get("activity_label", ""))
        rows["ctx_a"].append(record.get("ctx_a", ctx))
        rows["ctx_b"].append(record.get("ctx_b", ""))
        rows["ctx"].append(ctx)
        rows["endings"].append(endings)
        rows["source_id"].append(record.get("source_id", ""))
        rows["split"].append(record.get("split", ""))
        rows["split_type"].append(record.get("split_type", ""))
        label = record.get("label", "")
        rows["label"].append("" if label is None else str(label))
    return _dataset(rows, "hellaswag")


def read_cosmosqa_csv(path: str | Path) -> datasets.Dataset:
    """Cosmos QA CSV (`id,context,question,answer0..answer3,label`); the test set's label is -1."""
    path = Path(path)
    columns = list(FEATURES["cosmosqa"])
    rows: dict[str, list] = {k: [] for k in columns}
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for lineno, record in enumerate(reader, start=2):
                missing = [c for c in columns[:-1] if c not in record]
                if missing:
                    raise _data_error(path, lineno, f"missing columns {', '.join(missing)}")
                for column in columns[:-1]:
                    rows[column].append(record[column])
                label = record.get("label")
                rows["label"].append(-1 if label in (None, "") else int(label))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    return _dataset(rows, "cosmosqa")


def read_commonsenseqa_jsonl(path: str | Path) -> datasets.Dataset:
    """CommonsenseQA JSON lines, the original (`question.stem`, `question.choices`) or Hub rows."""
    path = Path(path)
    rows: dict[str, list] = {k: [] for k in FEATURES["commonsenseqa"]}
    for _, record in _jsonl(path):
        question = record["question"]
        if isinstance(question, dict):
            choices = {
                "label": [c["label"] for c in question["choices"]],
                "text": [c["text"] for c in question["choices"]],
            }
            stem, concept = question["stem"], question.get("question_concept", "")
        else:
            choices = record["choices"]
            stem, concept = question, record.get("question_concept", "")
        rows["id"].append(record["id"])
        rows["question"].append(stem)
        rows["question_concept"].append(concept)
        rows["choices"].append(choices)
        rows["answerKey"].append(record.get("answerKey", ""))
    return _dataset(rows, "commonsenseqa")


def read_ccg_tsv(path: str | Path) -> datasets.Dataset:
    """CCG supertags as `word<TAB>supertag` lines, a blank line between sentences.

    The file is derived by the user from their licensed copy of CCGbank; the tag inventory is
    whatever the file holds, so tags stay strings.
    """
    tokens, tags = _read_token_tag_tsv(Path(path), None)
    return _dataset({"tokens": tokens, "ccg_tags": tags}, "ccg")


def read_tatoeba(source_path: str | Path, english_path: str | Path) -> datasets.Dataset:
    """LASER's Tatoeba pair: line i of `tatoeba.XXX-eng.XXX` translates line i of `.eng`."""
    source_path, english_path = Path(source_path), Path(english_path)
    source = [line for _, line in _lines(source_path)]
    english = [line for _, line in _lines(english_path)]
    if len(source) != len(english):
        raise _data_error(
            source_path, None, f"{len(source)} lines but {english_path.name} has {len(english)}"
        )
    source_lang = source_path.suffix.lstrip(".")
    rows = {
        "source_sentence": source,
        "target_sentence": english,
        "source_lang": [source_lang] * len(source),
        "target_lang": ["eng"] * len(source),
    }
    return _dataset(rows, "tatoeba")


def _read_bucc_side(path: Path) -> tuple[list[str], list[str]]:
    ids, sentences = [], []
    for lineno, line in _lines(path):
        if line:
            sentence_id, sentence = _tsv_fields(path, lineno, line, 2)[:2]
            ids.append(sentence_id)
            sentences.append(sentence)
    return ids, sentences


def read_bucc(
    source_path: str | Path, english_path: str | Path, gold_path: str | Path | None = None
) -> datasets.Dataset:
    """BUCC 2018 mining data: one row per sentence of both sides (`id<TAB>sentence` files).

    For a non-English row `gold` is the id of its English translation, or "" for a distractor
    (and for every row when there is no gold file, as for the hidden test set); English rows
    have gold "".
    """
    source_path, english_path = Path(source_path), Path(english_path)
    source_lang = source_path.suffix.lstrip(".")
    gold: dict[str, str] = {}
    if gold_path is not None:
        gold_path = Path(gold_path)
        for lineno, line in _lines(gold_path):
            if line:
                source_id, english_id = _tsv_fields(gold_path, lineno, line, 2)[:2]
                if source_id in gold:
                    raise _data_error(gold_path, lineno, f"{source_id} has two gold translations")
                gold[source_id] = english_id
    src_ids, src_sentences = _read_bucc_side(source_path)
    en_ids, en_sentences = _read_bucc_side(english_path)
    rows = {
        "id": src_ids + en_ids,
        "lang": [source_lang] * len(src_ids) + ["en"] * len(en_ids),
        "sentence": src_sentences + en_sentences,
        "gold": [gold.get(i, "") for i in src_ids] + [""] * len(en_ids),
    }
    return _dataset(rows, "bucc")


LOCAL_READERS: dict[str, Callable[..., datasets.Dataset]] = {
    "read_xnli_tsv": read_xnli_tsv,
    "read_pawsx_tsv": read_pawsx_tsv,
    "read_udpos": read_udpos,
    "read_panx_tsv": read_panx_tsv,
    "read_squad_json": read_squad_json,
    "read_mnli_tsv": read_mnli_tsv,
    "read_qqp_tsv": read_qqp_tsv,
    "read_sst2_tsv": read_sst2_tsv,
    "read_anli_jsonl": read_anli_jsonl,
    "read_hellaswag_jsonl": read_hellaswag_jsonl,
    "read_cosmosqa_csv": read_cosmosqa_csv,
    "read_commonsenseqa_jsonl": read_commonsenseqa_jsonl,
    "read_ccg_tsv": read_ccg_tsv,
    "read_tatoeba": read_tatoeba,
    "read_bucc": read_bucc,
}

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


def _check_lang(task: TaskInfo, lang: str) -> None:
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
    _check_lang(info, lang)
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
    return _anli_plus(anli, read_mnli_tsv(mnli_files[0]), _read_snli_jsonl(snli_files[0]))


def _anli_plus(
    anli: datasets.Dataset, mnli: datasets.Dataset, snli: datasets.Dataset
) -> datasets.Dataset:
    mnli = mnli.map(
        lambda row: {"uid": f"mnli-{row['idx']}"}, remove_columns=["idx"]
    ).cast(FEATURES["anli"])
    return datasets.concatenate_datasets([anli, mnli, snli.cast(FEATURES["anli"])])


# Hub access. HF_HUB_OFFLINE is read by huggingface_hub and datasets when they are imported, so
# the environment is checked again at call time, and a quick connection probe stands in for the
# libraries' own retries (about 25 s) when the machine has no route to the Hub.
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_PROBE_TIMEOUT_S = 3.0
_SNLI_HUB = "stanfordnlp/snli"
# Hub split names that differ from the plain train/validation/test.
_HUB_SPLITS = {
    "mnli": {"validation": "validation_matched", "test": "test_matched"},
    "xquad": {"test": "validation"},
    "tatoeba": {"test": "validation"},
}


def _offline_requested() -> bool:
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"} for v in _OFFLINE_VARS)


def offline_mode() -> bool:
    """Whether the Hub libraries run offline (HF_HUB_OFFLINE set when they were imported): then
    only cached datasets load, and `load_hub` fails fast on the rest."""
    return _libraries_offline()


def _libraries_offline() -> bool:
    import huggingface_hub.constants

    return bool(datasets.config.HF_HUB_OFFLINE or huggingface_hub.constants.HF_HUB_OFFLINE)


def _hub_reachable(endpoint: str, timeout_s: float = _PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the endpoint opens within the timeout (DNS included)."""
    url = urllib.parse.urlsplit(endpoint)
    if url.hostname is None:
        return False
    port = url.port or (443 if url.scheme == "https" else 80)
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((url.hostname, port), timeout=timeout_s):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    # A thread bounds name resolution too, which socket timeouts do not cover.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s + 0.5)
    return bool(outcome and outcome[0])


def _hub_error(info: TaskInfo, config: str | None, lang: str, split: str, why: str) -> UserError:
    name = info.hub_id + (f" (config {config})" if config else "")
    layout = LOCAL_LAYOUT[info.name]
    names = {
        "split": layout.splits.get(split, split),
        "hub_split": split,
        "lang": lang,
        "lang3": TATOEBA_CODES.get(lang, lang),
    }
    expected = ", ".join(p.format(**names).removeprefix("**/") for p in layout.files[0])
    return UserError(
        f"{info.name}: cannot load Hub dataset {name}: {why}; point at local files instead "
        f"(load_local, or a local data path laid out like ../shared/realdata with "
        f"{layout.folder}/{expected})"
    )


def hub_unavailable() -> str | None:
    """Why the Hub cannot be used for a dataset that is not cached yet, or None when it can.

    None too when the libraries started offline: they then serve cached copies and fail fast
    on anything else.
    """
    if _libraries_offline():
        return None
    import huggingface_hub.constants

    if _offline_requested():
        return "offline mode is set (HF_HUB_OFFLINE) and it is not cached"
    proxied = any(os.environ.get(v) for v in _PROXY_VARS)
    endpoint = huggingface_hub.constants.ENDPOINT
    if not proxied and not _hub_reachable(endpoint):
        return f"{endpoint} is unreachable (set HF_HUB_OFFLINE=1 to use a cached copy)"
    return None


def hub_error(task: str, lang: str, split: str, why: str) -> UserError:
    """The UserError `load_hub` raises for this task/language/split: names the dataset and how to
    point at local files instead."""
    info = get_task(task)
    return _hub_error(info, info.hub_config_for(lang), lang, split, why)


def load_hub(task: str, lang: str, split: str) -> datasets.Dataset:
    """Load one task/language/split from the Hub in the registry's schema.

    Fails fast with a UserError, never a traceback or a hang, when the Hub cannot be used:
    offline mode (a cached copy is still used when the libraries started offline), no route to
    the Hub, or a dataset/config/split the Hub does not have.
    """
    info = get_task(task)
    _check_lang(info, lang)
    config = info.hub_config_for(lang)
    if info.hub_id is None:
        raise UserError(f"{task}: no Hub source ({info.license_note}); use load_local")
    why = hub_unavailable()
    if why:
        raise _hub_error(info, config, lang, split, why)
    try:
        dataset = _load_hub_rows(info, config, lang, split)
    except (OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise _hub_error(info, config, lang, split, f"{type(err).__name__}: {first_line}") from None
    return _conform(dataset, task)


def _load_hub_rows(info: TaskInfo, config: str | None, lang: str, split: str) -> datasets.Dataset:
    if info.name == "anli":
        rounds = [datasets.load_dataset(info.hub_id, split=f"{split}_r{n}") for n in (1, 2, 3)]
        anli = _conform(datasets.concatenate_datasets(rounds), "anli")
        if split != "train":
            return anli
        mnli = _conform(datasets.load_dataset("nyu-mll/glue", "mnli", split="train"), "mnli")
        snli = datasets.load_dataset(_SNLI_HUB, split="train").filter(lambda row: row["label"] >= 0)
        snli = snli.map(lambda row, i: {"uid": f"snli-{i}"}, with_indices=True)
        return _anli_plus(anli, mnli, _conform(snli, "anli"))
    hub_split = _HUB_SPLITS.get(info.name, {}).get(split, split)
    dataset = datasets.load_dataset(info.hub_id, config, split=hub_split)
    if info.name == "tydiqa":
        # The GoldP config holds every language; ids start with the language's English name.
        prefix = LANGUAGE_NAMES[lang].lower() + "-"
        dataset = dataset.filter(lambda row: row["id"].startswith(prefix))
    return dataset


def _conform(dataset: datasets.Dataset, task: str) -> datasets.Dataset:
    """Drop columns outside the task schema, add missing string columns as "", cast the types."""
    target = FEATURES[task]
    extra = [c for c in dataset.column_names if c not in target]
    if extra:
        dataset = dataset.remove_columns(extra)
    for column, feature in target.items():
        if column not in dataset.column_names:
            if feature != _STR:
                raise ValueError(f"Hub rows lack the {column!r} column of the {task} schema")
            dataset = dataset.add_column(column, [""] * len(dataset))
    return dataset.select_columns(list(target)).cast(target)
