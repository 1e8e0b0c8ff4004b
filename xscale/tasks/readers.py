"""Readers for the tasks' original file formats, all yielding the Hub schema.

Every reader returns a `datasets.Dataset` whose features equal `FEATURES[task]` (the Hub schema of
the dataset the registry names), so the same collators and metrics serve local files, the Hub and
the synthetic benchmark. Every format is read through one line reader (`_lines`: UTF-8, a
byte-order mark removed), and mistakes in the data (a byte that is not UTF-8, an empty file, a line
with too many or too few fields, an empty token, an unknown label) are a UserError naming the file
and line: nothing is guessed. Where each task's files live on disk is `xscale.data.local`; loading
from the Hub is `xscale.data.hub`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import datasets
from datasets import ClassLabel, Features, List, Value

from xscale.errors import UserError
from xscale.tasks.registry import NLI_LABELS, PANX_TAGS, UPOS_TAGS

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


_BOM = "\ufeff"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 text file, without line endings or a leading byte-order mark.

    Every reader goes through here, so every format gets the same checks: a missing file, a file
    without text and a byte that is not UTF-8 are UserErrors naming the file (and the line). Lines
    end at `\n` only (a lone `\r` inside a sentence stays text; Windows `\r\n` endings are removed).
    """
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    text = False
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _data_error(path, lineno, f"not UTF-8: byte 0x{raw[err.start]:02x} at byte {err.start + 1} of "
                                  "the line (allowed: UTF-8 text; save the file as UTF-8)") from None
            if lineno == 1:
                line = line.removeprefix(_BOM)
            line = line.removesuffix("\n").removesuffix("\r")
            text = text or bool(line.strip())
            yield lineno, line
    if not text:
        raise UserError(f"{path}: empty file (no line holds text)")


def _text(path: Path) -> str:
    """The whole file through `_lines` (JSON documents, whose strings cannot hold a raw line break)."""
    return "\n".join(line for _, line in _lines(path))


def _blank(line: str) -> bool:
    """A sentence separator: nothing but spaces (a tab makes it a line of empty fields, an error)."""
    return not line.strip() and "\t" not in line


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


def _integer(value: str, what: str, path: Path, lineno: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise _data_error(path, lineno, f"{what} {value!r} (allowed: an integer)") from None


def _tsv_fields(path: Path, lineno: int, line: str, count: int) -> list[str]:
    """The `count` tab-separated fields of a line: more or fewer is an error, never a guess."""
    fields = line.split("\t")
    if len(fields) != count:
        raise _data_error(path, lineno, f"expected {count} tab-separated fields, got {len(fields)}")
    return fields


def _dataset(rows: dict[str, list], task: str, path: Path) -> datasets.Dataset:
    if not next(iter(rows.values())):
        raise _data_error(path, None, "no rows (only a header, or nothing the format reads)")
    return datasets.Dataset.from_dict(rows, features=FEATURES[task])


def read_xnli_tsv(path: str | Path) -> datasets.Dataset:
    """XTREME's XNLI TSV: `premise<TAB>hypothesis<TAB>label name`, no header."""
    path = Path(path)
    rows: dict[str, list] = {"premise": [], "hypothesis": [], "label": []}
    for lineno, line in _lines(path):
        if _blank(line) or (lineno == 1 and line.startswith("premise\t")):
            continue
        premise, hypothesis, label = _tsv_fields(path, lineno, line, 3)
        rows["premise"].append(premise)
        rows["hypothesis"].append(hypothesis)
        rows["label"].append(_label(NLI_LABELS, label.strip(), path, lineno))
    return _dataset(rows, "xnli", path)


def read_pawsx_tsv(path: str | Path) -> datasets.Dataset:
    """PAWS-X TSV: XTREME's `sentence1<TAB>sentence2<TAB>0|1`, or the original with an `id` header."""
    path = Path(path)
    rows: dict[str, list] = {"id": [], "sentence1": [], "sentence2": [], "label": []}
    has_id = False
    for lineno, line in _lines(path):
        if lineno == 1 and line.startswith("id\t"):
            has_id = True
            continue
        if _blank(line):
            continue
        fields = _tsv_fields(path, lineno, line, 4 if has_id else 3)
        if has_id:
            row_id, sentence1, sentence2, label = fields
            rows["id"].append(_integer(row_id, "id", path, lineno))
        else:
            sentence1, sentence2, label = fields
            rows["id"].append(len(rows["id"]))
        rows["sentence1"].append(sentence1)
        rows["sentence2"].append(sentence2)
        rows["label"].append(_label(("0", "1"), label.strip(), path, lineno))
    return _dataset(rows, "pawsx", path)


def _tagged_sentences(
    path: Path, width: int, token_at: int, tag_at: int, tags: tuple[str, ...] | None, conllu: bool = False
) -> tuple[list, list]:
    """Sentences of one-token lines (`width` tab-separated fields), a blank line between sentences:
    the tokens and their tags (as ClassLabel ids when `tags` is given). CoNLL-U's comment lines,
    multiword-token lines (`1-2`) and empty nodes (`1.1`) are passed over, so the tokens are the
    words that carry UPOS, as in XTREME's preprocessing."""
    sentences, sentence_tags = [], []
    tokens: list[str] = []
    labels: list = []
    for lineno, line in _lines(path):
        if _blank(line):
            if tokens:
                sentences.append(tokens)
                sentence_tags.append(labels)
                tokens, labels = [], []
            continue
        if conllu and line.startswith("#"):
            continue
        fields = _tsv_fields(path, lineno, line, width)
        if conllu and ("-" in fields[0] or "." in fields[0]):
            continue
        token, tag = fields[token_at], fields[tag_at].strip()
        if not token.strip():
            raise _data_error(path, lineno, "empty token")
        if not tag:
            raise _data_error(path, lineno, "empty tag")
        tokens.append(token)
        labels.append(tag if tags is None else _label(tags, tag, path, lineno))
    if tokens:
        sentences.append(tokens)
        sentence_tags.append(labels)
    return sentences, sentence_tags


def tokens_only(path: str | Path) -> bool:
    """Whether a `token<TAB>tag` file holds tokens alone, one a line: XTREME's `utils_preprocess.py`
    writes the PAN-X and UD-POS test sets so, their labels being hidden. A file that mixes the two
    forms is not tokens-only (its reader then names the first line without a tag)."""
    return all("\t" not in line for _, line in _lines(Path(path)) if not _blank(line))


def read_udpos_tsv(path: str | Path) -> datasets.Dataset:
    """XTREME's UD-POS TSV: `token<TAB>UPOS`, a blank line between sentences."""
    path = Path(path)
    tokens, tags = _tagged_sentences(path, 2, 0, 1, UPOS_TAGS)
    return _dataset({"tokens": tokens, "pos_tags": tags}, "udpos", path)


def read_udpos_conllu(path: str | Path) -> datasets.Dataset:
    """A CoNLL-U treebank: FORM and UPOS (columns 2 and 4) of the syntactic words (`_tagged_sentences`)."""
    path = Path(path)
    tokens, tags = _tagged_sentences(path, 10, 1, 3, UPOS_TAGS, conllu=True)
    return _dataset({"tokens": tokens, "pos_tags": tags}, "udpos", path)


def read_udpos(path: str | Path) -> datasets.Dataset:
    """UD-POS from either format, chosen by the file suffix (`.conllu` or XTREME's `.tsv`)."""
    path = Path(path)
    return read_udpos_conllu(path) if path.suffix == ".conllu" else read_udpos_tsv(path)


def read_panx_tsv(path: str | Path, lang: str) -> datasets.Dataset:
    """PAN-X (WikiANN) TSV: `token<TAB>IOB2 tag`; the original's `lang:` token prefix is removed
    (a token that is nothing but the prefix stays as it is rather than becoming empty)."""
    path = Path(path)
    tokens, tags = _tagged_sentences(path, 2, 0, 1, PANX_TAGS)
    prefix = f"{lang}:"
    tokens = [[t.removeprefix(prefix) or t for t in sent] for sent in tokens]
    langs = [[lang] * len(sent) for sent in tokens]
    return _dataset({"tokens": tokens, "ner_tags": tags, "langs": langs}, "panx", path)


def read_squad_json(path: str | Path) -> datasets.Dataset:
    """SQuAD-format JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP), one row per question.

    Contexts and answers are kept verbatim so that `answer_start` stays a valid character
    offset; unanswerable SQuAD v2.0 questions get empty answer lists. Ids must be unique for the
    QA metrics, which match predictions to answers by id: a repeated id (some TyDiQA-GoldP
    exports number the questions of each article from 0) gets `-N` added, N being the row number.
    """
    path = Path(path)
    try:
        articles = json.loads(_text(path))["data"]
    except json.JSONDecodeError as err:
        raise _data_error(path, err.lineno, f"not JSON ({err.msg})") from None
    except (KeyError, TypeError):
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
    return _dataset(rows, "squad", path)


def _glue_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """GLUE TSV rows keyed by the header; GLUE files are unquoted, so quotes are literal text."""
    header: list[str] | None = None
    for lineno, line in _lines(path):
        if header is None:
            header = line.split("\t")
            continue
        if not _blank(line):
            yield lineno, dict(zip(header, _tsv_fields(path, lineno, line, len(header))))


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
    return _dataset(rows, "mnli", path)


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
    return _dataset(rows, "qqp", path)


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
    return _dataset(rows, "sst2", path)


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
    return _dataset(rows, "anli", path)


def read_snli_jsonl(path: Path) -> datasets.Dataset:
    """SNLI 1.0 JSON lines in the ANLI schema, without the pairs that lack a gold label (`-`)."""
    rows: dict[str, list] = {"uid": [], "premise": [], "hypothesis": [], "label": []}
    for lineno, record in _jsonl(path):
        if record["gold_label"] == "-":
            continue
        rows["uid"].append(f"snli-{record.get('pairID', lineno)}")
        rows["premise"].append(record["sentence1"])
        rows["hypothesis"].append(record["sentence2"])
        rows["label"].append(_label(NLI_LABELS, record["gold_label"], path, lineno))
    return _dataset(rows, "anli", path)


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
    return _dataset(rows, "hellaswag", path)


def read_cosmosqa_csv(path: str | Path) -> datasets.Dataset:
    """Cosmos QA CSV (`id,context,question,answer0..answer3,label`); the test set's label is -1."""
    path = Path(path)
    columns = list(FEATURES["cosmosqa"])
    rows: dict[str, list] = {k: [] for k in columns}
    # csv needs the line ends back: a quoted field may span lines.
    reader = csv.reader(line + "\n" for _, line in _lines(path))
    try:
        header = next(reader)
        for fields in reader:
            lineno = reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                raise _data_error(path, lineno, f"expected {len(header)} comma-separated fields, got {len(fields)}")
            record = dict(zip(header, fields))
            missing = [c for c in columns[:-1] if c not in record]
            if missing:
                raise _data_error(path, lineno, f"missing columns {', '.join(missing)}")
            for column in columns[:-1]:
                rows[column].append(record[column])
            label = record.get("label")
            rows["label"].append(-1 if label in (None, "") else _integer(label, "label", path, lineno))
    except csv.Error as err:
        raise _data_error(path, reader.line_num, f"not CSV ({err})") from None
    return _dataset(rows, "cosmosqa", path)


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
    return _dataset(rows, "commonsenseqa", path)


def read_ccg_tsv(path: str | Path) -> datasets.Dataset:
    """CCG supertags as `word<TAB>supertag` lines, a blank line between sentences.

    The file is derived by the user from their licensed copy of CCGbank; the tag inventory is
    whatever the file holds, so tags stay strings.
    """
    path = Path(path)
    tokens, tags = _tagged_sentences(path, 2, 0, 1, None)
    return _dataset({"tokens": tokens, "ccg_tags": tags}, "ccg", path)


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
    return _dataset(rows, "tatoeba", source_path)


def _two_columns(path: Path) -> Iterator[tuple[int, str, str]]:
    """The non-blank lines of an `a<TAB>b` file (BUCC's sentences and gold pairs)."""
    for lineno, line in _lines(path):
        if not _blank(line):
            first, second = _tsv_fields(path, lineno, line, 2)
            yield lineno, first, second


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
        for lineno, source_id, english_id in _two_columns(gold_path):
            if source_id in gold:
                raise _data_error(gold_path, lineno, f"{source_id} has two gold translations")
            gold[source_id] = english_id
    source, english = list(_two_columns(source_path)), list(_two_columns(english_path))
    src_ids, src_sentences = [i for _, i, _ in source], [t for _, _, t in source]
    en_ids, en_sentences = [i for _, i, _ in english], [t for _, _, t in english]
    rows = {
        "id": src_ids + en_ids,
        "lang": [source_lang] * len(src_ids) + ["en"] * len(en_ids),
        "sentence": src_sentences + en_sentences,
        "gold": [gold.get(i, "") for i in src_ids] + [""] * len(en_ids),
    }
    return _dataset(rows, "bucc", source_path)


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


def anli_plus(
    anli: datasets.Dataset, mnli: datasets.Dataset, snli: datasets.Dataset
) -> datasets.Dataset:
    """ANLI+ (Phang et al. 2020): ANLI R1-R3 with MNLI and SNLI, in ANLI's schema."""
    mnli = mnli.map(
        lambda row: {"uid": f"mnli-{row['idx']}"}, remove_columns=["idx"]
    ).cast(FEATURES["anli"])
    return datasets.concatenate_datasets([anli, mnli, snli.cast(FEATURES["anli"])])
