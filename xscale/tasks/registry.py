"""The closed registry of tasks: English intermediate tasks (Phang et al. 2020) and XTREME targets.

This module imports nothing heavy so that `xscale validate` and `xscale tasks` stay instant; the
readers, metrics and QA feature code live beside it and import `datasets`/`numpy` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from xscale.errors import UserError

ROLES = ("intermediate", "target")
FORMATS = ("classification", "pair_classification", "tagging", "span_qa", "multiple_choice", "retrieval")

NLI_LABELS = ("entailment", "neutral", "contradiction")
UPOS_TAGS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# English names of every language code used below: `google/xtreme` names its UD-POS configs
# by them (`udpos.German`) and TyDiQA prefixes its example ids with them (`finnish-...`).
LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "jv": "Javanese",
    "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "ml": "Malayalam", "mr": "Marathi",
    "ms": "Malay", "my": "Burmese", "nl": "Dutch", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai",
    "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu", "vi": "Vietnamese", "yo": "Yoruba",
    "zh": "Chinese",
}

# The LASER Tatoeba release names its files by these codes (`tatoeba.deu-eng.deu`); the mapping
# is XTREME's (`third_party/run_retrieval.py`, `lang3_dict`).
TATOEBA_CODES = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa",
    "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin",
    "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz",
    "ko": "kor", "ml": "mal", "mr": "mar", "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh",
    "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "ur": "urd", "vi": "vie",
    "zh": "cmn",
}

# Language lists are XTREME's `evaluate.py` TASK2LANGS (sorted); English is included where
# XTREME evaluates it, and the retrieval tasks list only the non-English side of each pair.
_EN = ("en",)
_XNLI = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
_PAWSX = ("de", "en", "es", "fr", "ja", "ko", "zh")
_UDPOS = (
    "af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu",
    "id", "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur",
    "vi", "yo", "zh",
)
_PANX = (
    "af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi",
    "hu", "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru",
    "sw", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh",
)
_XQUAD = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
_MLQA = ("ar", "de", "en", "es", "hi", "vi", "zh")
_TYDIQA = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
_BUCC = ("de", "fr", "ru", "zh")
_TATOEBA = tuple(sorted(TATOEBA_CODES))

_QA_FIELDS = ("question", "context")
_QA_METRICS = ("f1", "exact_match")


@dataclass(frozen=True)
class TaskInfo:
    """One task: its role in the pipeline, data schema, languages, metric and data sources."""

    name: str
    """Registry key, used in YAML, metric keys and cache keys."""
    role: str
    """`intermediate` (English, trained before the target) or `target` (XTREME, evaluated zero-shot)."""
    format: str
    """Input/output shape, one of FORMATS; selects the collator and the head."""
    labels: tuple[str, ...]
    """Class or tag names in ClassLabel order; empty where the label set is open (QA, retrieval, CCG)."""
    languages: tuple[str, ...]
    """XTREME's languages, ISO 639-1 codes as XTREME spells them: those the Hub source serves and
    `xtreme/score` averages; local files may hold more (`xscale.data.local.find_local`)."""
    metric: str
    """Primary metric name, the one that model selection and the XTREME score use."""
    metrics: tuple[str, ...]
    """All metric names reported for the task (the primary one included)."""
    text_fields: tuple[str, ...]
    """Input column names in the Hub schema."""
    label_field: str | None
    """Target column name in the Hub schema; None where rows are aligned by position (Tatoeba)."""
    hub_id: str | None
    """Hugging Face Hub dataset id; None where the data must come from local files."""
    hub_config: str | None
    """Hub config, a format string over {lang}, {language} (English name) and {lang3} (Tatoeba code)."""
    train_task: str | None
    """Task whose English train split trains this task's head; None means evaluated without training."""
    local_reader: str | None
    """Name of the reader in `xscale.tasks.readers.LOCAL_READERS` for the original file format."""
    license_note: str
    """Licence or access caveat shown to the user."""
    synthetic: bool
    """Whether the embedded synthetic benchmark provides a task of this name."""
    choices: int | None = None
    """Candidate answers per question of a multiple-choice task (its chance level is 1/choices)."""
    related: tuple[str, ...] = ()
    """Intermediate tasks only: target tasks of the same kind (a learned intermediate task should not hurt
    them on average; the report's anchor check)."""

    def hub_config_for(self, lang: str) -> str | None:
        """The Hub config name for one language (None for single-config datasets)."""
        if self.hub_config is None:
            return None
        return self.hub_config.format(
            lang=lang, language=LANGUAGE_NAMES.get(lang, lang), lang3=TATOEBA_CODES.get(lang, lang)
        )


TASKS: dict[str, TaskInfo] = {
    # Intermediate tasks (English), the set of Phang et al. 2020 plus SST-2.
    "anli": TaskInfo(
        name="anli", role="intermediate", format="pair_classification", labels=NLI_LABELS,
        languages=_EN, metric="accuracy", metrics=("accuracy",),
        text_fields=("premise", "hypothesis"), label_field="label",
        hub_id="facebook/anli", hub_config=None, train_task="anli", local_reader="read_anli_jsonl",
        license_note="ANLI+ (Phang et al. 2020): the train split is ANLI R1-R3 + MNLI + SNLI; "
        "evaluation uses the ANLI R1-R3 dev/test sets; ANLI is CC BY-NC 4.0",
        synthetic=False,
        related=('xnli',),
    ),
    "mnli": TaskInfo(
        name="mnli", role="intermediate", format="pair_classification", labels=NLI_LABELS,
        languages=_EN, metric="accuracy", metrics=("accuracy",),
        text_fields=("premise", "hypothesis"), label_field="label",
        hub_id="nyu-mll/glue", hub_config="mnli", train_task="mnli", local_reader="read_mnli_tsv",
        license_note="GLUE MNLI (mixed OANC / CC BY-SA sources); validation means matched",
        synthetic=True,
        related=('xnli',),
    ),
    "qqp": TaskInfo(
        name="qqp", role="intermediate", format="pair_classification",
        labels=("not_duplicate", "duplicate"), languages=_EN, metric="accuracy",
        metrics=("accuracy", "f1"), text_fields=("question1", "question2"), label_field="label",
        hub_id="nyu-mll/glue", hub_config="qqp", train_task="qqp", local_reader="read_qqp_tsv",
        license_note="Quora Question Pairs, Quora terms of service", synthetic=True,
        related=('pawsx',),
    ),
    "sst2": TaskInfo(
        name="sst2", role="intermediate", format="classification", labels=("negative", "positive"),
        languages=_EN, metric="accuracy", metrics=("accuracy",), text_fields=("sentence",),
        label_field="label", hub_id="nyu-mll/glue", hub_config="sst2", train_task="sst2",
        local_reader="read_sst2_tsv", license_note="Stanford Sentiment Treebank via GLUE",
        synthetic=True,
    ),
    "squad": TaskInfo(
        name="squad", role="intermediate", format="span_qa", labels=(), languages=_EN,
        metric="f1", metrics=_QA_METRICS, text_fields=_QA_FIELDS, label_field="answers",
        hub_id="rajpurkar/squad", hub_config=None, train_task="squad",
        local_reader="read_squad_json", license_note="SQuAD v1.1, CC BY-SA 4.0", synthetic=True,
        related=('xquad', 'mlqa', 'tydiqa'),
    ),
    "squad_v2": TaskInfo(
        name="squad_v2", role="intermediate", format="span_qa", labels=(), languages=_EN,
        metric="f1", metrics=_QA_METRICS, text_fields=_QA_FIELDS, label_field="answers",
        hub_id="rajpurkar/squad_v2", hub_config=None, train_task="squad_v2",
        local_reader="read_squad_json",
        license_note="SQuAD v2.0, CC BY-SA 4.0; unanswerable questions have no answers",
        synthetic=True,
        related=('xquad', 'mlqa', 'tydiqa'),
    ),
    "hellaswag": TaskInfo(
        name="hellaswag", role="intermediate", format="multiple_choice",
        labels=("0", "1", "2", "3"), languages=_EN, metric="accuracy", metrics=("accuracy",),
        text_fields=("ctx", "endings"), label_field="label", hub_id="Rowan/hellaswag",
        hub_config=None, train_task="hellaswag", local_reader="read_hellaswag_jsonl",
        license_note="HellaSwag, MIT; test labels are hidden", synthetic=True, choices=4,
    ),
    "ccg": TaskInfo(
        name="ccg", role="intermediate", format="tagging", labels=(), languages=_EN,
        metric="accuracy", metrics=("accuracy",), text_fields=("tokens",), label_field="ccg_tags",
        hub_id=None, hub_config=None, train_task="ccg", local_reader="read_ccg_tsv",
        license_note="CCGbank is licensed by the LDC and is not on the Hub: give a local path to a "
        "word<TAB>supertag TSV (blank line between sentences) derived from your licensed copy",
        synthetic=True,
    ),
    "cosmosqa": TaskInfo(
        name="cosmosqa", role="intermediate", format="multiple_choice",
        labels=("0", "1", "2", "3"), languages=_EN, metric="accuracy", metrics=("accuracy",),
        text_fields=("context", "question", "answer0", "answer1", "answer2", "answer3"),
        label_field="label", hub_id="allenai/cosmos_qa", hub_config=None, train_task="cosmosqa",
        local_reader="read_cosmosqa_csv", license_note="Cosmos QA, CC BY 4.0", synthetic=False, choices=4,
    ),
    "commonsenseqa": TaskInfo(
        name="commonsenseqa", role="intermediate", format="multiple_choice",
        labels=("A", "B", "C", "D", "E"), languages=_EN, metric="accuracy", metrics=("accuracy",),
        text_fields=("question", "choices"), label_field="answerKey", hub_id="tau/commonsense_qa",
        hub_config=None, train_task="commonsenseqa", local_reader="read_commonsenseqa_jsonl",
        license_note="CommonsenseQA, MIT; test labels are hidden", synthetic=False, choices=5,
    ),
    # Target tasks: XTREME (Hu et al. 2020), trained on English and evaluated zero-shot.
    "xnli": TaskInfo(
        name="xnli", role="target", format="pair_classification", labels=NLI_LABELS,
        languages=_XNLI, metric="accuracy", metrics=("accuracy",),
        text_fields=("premise", "hypothesis"), label_field="label", hub_id="facebook/xnli",
        hub_config="{lang}", train_task="mnli", local_reader="read_xnli_tsv",
        license_note="XNLI, CC BY-NC 4.0", synthetic=True,
    ),
    "pawsx": TaskInfo(
        name="pawsx", role="target", format="pair_classification", labels=("0", "1"),
        languages=_PAWSX, metric="accuracy", metrics=("accuracy",),
        text_fields=("sentence1", "sentence2"), label_field="label",
        hub_id="google-research-datasets/paws-x", hub_config="{lang}", train_task="pawsx",
        local_reader="read_pawsx_tsv", license_note="PAWS-X, free use with attribution",
        synthetic=True,
    ),
    "udpos": TaskInfo(
        name="udpos", role="target", format="tagging", labels=UPOS_TAGS, languages=_UDPOS,
        metric="f1", metrics=("f1", "accuracy"), text_fields=("tokens",), label_field="pos_tags",
        hub_id="google/xtreme", hub_config="udpos.{language}", train_task="udpos",
        local_reader="read_udpos",
        license_note="Universal Dependencies v2.5 treebanks, licences vary per treebank "
        "(several CC BY-NC-SA)",
        synthetic=True,
    ),
    "panx": TaskInfo(
        name="panx", role="target", format="tagging", labels=PANX_TAGS, languages=_PANX,
        metric="f1", metrics=("f1", "accuracy"), text_fields=("tokens",), label_field="ner_tags",
        hub_id="google/xtreme", hub_config="PAN-X.{lang}", train_task="panx",
        local_reader="read_panx_tsv", license_note="WikiANN (Pan et al. 2017), licence unstated",
        synthetic=True,
    ),
    "xquad": TaskInfo(
        name="xquad", role="target", format="span_qa", labels=(), languages=_XQUAD,
        metric="f1", metrics=_QA_METRICS, text_fields=_QA_FIELDS, label_field="answers",
        hub_id="google/xquad", hub_config="xquad.{lang}", train_task="squad",
        local_reader="read_squad_json", license_note="XQuAD, CC BY-SA 4.0; validation split only",
        synthetic=True,
    ),
    "mlqa": TaskInfo(
        name="mlqa", role="target", format="span_qa", labels=(), languages=_MLQA,
        metric="f1", metrics=_QA_METRICS, text_fields=_QA_FIELDS, label_field="answers",
        hub_id="facebook/mlqa", hub_config="mlqa.{lang}.{lang}", train_task="squad",
        local_reader="read_squad_json", license_note="MLQA, CC BY-SA 3.0", synthetic=False,
    ),
    "tydiqa": TaskInfo(
        name="tydiqa", role="target", format="span_qa", labels=(), languages=_TYDIQA,
        metric="f1", metrics=_QA_METRICS, text_fields=_QA_FIELDS, label_field="answers",
        hub_id="google-research-datasets/tydiqa", hub_config="secondary_task", train_task="tydiqa",
        local_reader="read_squad_json",
        license_note="TyDiQA-GoldP, Apache 2.0; trains on its English train split; the Hub "
        "config holds all languages and is filtered by id prefix",
        synthetic=False,
    ),
    "bucc": TaskInfo(
        name="bucc", role="target", format="retrieval", labels=(), languages=_BUCC,
        metric="f1", metrics=("f1", "precision", "recall"), text_fields=("sentence",),
        label_field="gold", hub_id=None, hub_config=None, train_task=None,
        local_reader="read_bucc",
        license_note="BUCC 2018 shared task; local files only, because the Hub's `bucc18.*` "
        "configs hold the gold pairs without the distractor sentences that mining needs",
        synthetic=True,
    ),
    "tatoeba": TaskInfo(
        name="tatoeba", role="target", format="retrieval", labels=(), languages=_TATOEBA,
        metric="accuracy", metrics=("accuracy",),
        text_fields=("source_sentence", "target_sentence"), label_field=None,
        hub_id="google/xtreme", hub_config="tatoeba.{lang3}", train_task=None,
        local_reader="read_tatoeba", license_note="Tatoeba via LASER, CC-BY 2.0 FR",
        synthetic=True,
    ),
}


def get_task(name: str) -> TaskInfo:
    """The registry entry for `name`; a UserError lists the allowed names otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"task: unknown task {name!r} (allowed: {', '.join(TASKS)})") from None


def _sources(task: TaskInfo) -> str:
    parts = []
    if task.hub_id is not None:
        parts.append(task.hub_id + (f":{task.hub_config}" if task.hub_config else ""))
    if task.local_reader is not None:
        parts.append(f"local:{task.local_reader}")
    return ", ".join(parts)


LEARNED_MARGIN = 25.0
"""Points above chance that a classification or multiple-choice task must reach in English to count as learned."""
LEARNED_MIN = 40.0
"""Score (F1, or accuracy for CCG supertags) a tagging or QA task must reach in English to count as learned."""


def chance_level(task: TaskInfo) -> float | None:
    """The primary metric of a model that guesses (points): 100/classes or 100/choices; None for tasks
    with an open label set (tagging, QA) or without training (retrieval)."""
    if task.format in ("classification", "pair_classification") and task.labels:
        return 100.0 / len(task.labels)
    if task.format == "multiple_choice" and task.choices:
        return 100.0 / task.choices
    return None


def learning_threshold(task: TaskInfo) -> float | None:
    """The English dev score above which the model has learned `task` (the learning gate): chance +
    `LEARNED_MARGIN` where chance is defined, else `LEARNED_MIN`; None for retrieval tasks, which
    train nothing and so have nothing to learn."""
    if task.format == "retrieval":
        return None
    chance = chance_level(task)
    return chance + LEARNED_MARGIN if chance is not None else LEARNED_MIN


def task_table() -> list[dict]:
    """One plain row per task, in registry order, for `xscale tasks` and reports."""
    rows = []
    for task in TASKS.values():
        shown = ",".join(task.languages[:5]) + (",..." if len(task.languages) > 5 else "")
        rows.append(
            {
                "name": task.name,
                "role": task.role,
                "format": task.format,
                "languages": f"{len(task.languages)}: {shown}",
                "metric": task.metric,
                "train_task": task.train_task or "-",
                "synthetic": "yes" if task.synthetic else "no",
                "sources": _sources(task),
            }
        )
    return rows


def format_task_table() -> str:
    """The task table as aligned plain text, one line per task under a header."""
    rows = task_table()
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)
