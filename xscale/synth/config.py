"""Knobs of the synthetic benchmark: one frozen, validated `SynthConfig` and the named presets.

Every number that shapes the generated content lives here, so that the content hash (the stable id of
a generated benchmark) is a hash of this object plus the seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from xscale.errors import UserError

LANGUAGES: tuple[str, ...] = ("en", "clone", "near", "vso", "sov", "inv")
"""Every language the benchmark can realise; `en` is the source language of all training splits."""

TRAINED_TARGET_TASKS: tuple[str, ...] = ("xnli", "pawsx", "udpos", "panx", "xquad")
"""Target tasks with an English train split (the retrieval tasks have none)."""

DEFAULT_EN_WEIGHT = 0.3
"""Share of English documents in the corpus when `corpus_lang_weights` is not given."""


@dataclass(frozen=True)
class SynthConfig:
    """All knobs of one synthetic benchmark (sizes count rows unless the name says tokens)."""

    languages: tuple[str, ...] = LANGUAGES
    """Languages to realise; must contain "en" and at least one other."""
    n_topics: int = 12
    """Number of topics; a topic boosts its own concepts, verbs and names in a document or example."""
    categories_per_type: int = 4
    """Hypernym categories under each of the animal, food and artifact types (half that for the others)."""
    nouns_per_category: int = 6
    """Concept nouns under each category."""
    n_adjective_pairs: int = 24
    """Antonym pairs of adjectives."""
    n_verbs: int = 60
    """Verb meanings (transitive and intransitive, with selectional restrictions)."""
    n_adverbs: int = 8
    """Manner adverbs."""
    n_persons: int = 60
    """Named people (first name + surname, multi-word PER spans)."""
    n_organisations: int = 24
    """Named organisations (multi-word ORG spans)."""
    n_places: int = 30
    """Named places (LOC spans of one or two words)."""
    synonym_fraction: float = 0.15
    """Fraction of nouns, verbs and adjectives that have a second word with the same meaning."""
    homograph_fraction: float = 0.05
    """Per language, fraction of verbs spelled like some noun (POS ambiguity that context resolves)."""
    zipf_exponent: float = 1.0
    """Exponent s of the Zipfian weight 1/rank^s of concepts, verbs and names."""
    name_sharing: float = 0.5
    """Fraction of name words spelled identically in every language but `inv` (the rest are respelled)."""
    loanword_fraction: float = 0.1
    """Fraction of content words that `near` borrows from `en` (same spelling)."""
    corpus_tokens: int = 4_000_000
    """Size of the MLM pretraining corpus in words (whitespace tokens)."""
    corpus_lang_weights: tuple[tuple[str, float], ...] = ()
    """Share of corpus documents per language; empty means en 0.3 and the others share the rest."""
    parallel_fraction: float = 0.1
    """Fraction of corpus documents that are also emitted translated into a second language."""
    code_switch_prob: float = 0.1
    """Per-word probability of swapping a corpus word for another language's word for the same node."""
    doc_sentences_min: int = 3
    """Fewest sentences in a corpus document."""
    doc_sentences_max: int = 8
    """Most sentences in a corpus document."""
    intermediate_train_size: int = 20_000
    """Rows of each English intermediate task's train split."""
    intermediate_validation_size: int = 2_000
    """Rows of each English intermediate task's validation split."""
    target_train_size: int = 5_000
    """Rows of each target task's English train split."""
    task_train_sizes: tuple[tuple[str, int], ...] = ()
    """Per-task train rows that override `target_train_size`, e.g. {xnli: 40000}. Real XNLI trains on
    MNLI's 393k English pairs, far more than the other targets have."""
    target_validation_size: int = 1_000
    """Rows of each target task's English validation split."""
    test_size: int = 1_000
    """Rows of every test split, per language (tatoeba: pairs; bucc: gold pairs)."""
    retrieval_validation_size: int = 500
    """Pairs in the tatoeba and bucc validation (probe) splits, per language."""
    bucc_distractor_fraction: float = 0.5
    """Fraction of bucc rows on each side that have no translation on the other side."""
    squad_v2_unanswerable_fraction: float = 0.33
    """Fraction of squad_v2 questions that the context cannot answer."""
    task_overlap: float = 0.5
    """How much of each intermediate task's topics and label logic is drawn from its target task's."""
    translate_intermediate: bool = False
    """Also write `train.<lang>` splits of the intermediate tasks, realised in every other language."""

    def __post_init__(self) -> None:
        # Normalise container knobs so that equal configs compare and hash equal.
        object.__setattr__(self, "languages", tuple(self.languages))
        weights = self.corpus_lang_weights
        if isinstance(weights, Mapping):
            weights = tuple(weights.items())
        try:
            weights = tuple((str(k), float(v)) for k, v in weights)
        except (TypeError, ValueError):
            weights = (("?", math.nan),)
        object.__setattr__(self, "corpus_lang_weights", weights)
        sizes = self.task_train_sizes
        if isinstance(sizes, Mapping):
            sizes = tuple(sizes.items())
        try:
            sizes = tuple((str(k), v) for k, v in sizes)
        except (TypeError, ValueError):
            sizes = (("?", 0),)
        object.__setattr__(self, "task_train_sizes", sizes)
        # 0 and 0.0 must hash alike (the content hash is taken over the knobs' JSON).
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        self.validate()

    def validate(self) -> None:
        """Raise `UserError` listing every problem with the knobs at once."""
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            path = f"synth.{f.name}"
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(f"{path}: must be an integer (got {value!r})")
            elif f.type == "int" and value <= 0:
                problems.append(f"{path}: must be > 0 (got {value})")
            elif f.type == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                problems.append(f"{path}: must be a number (got {value!r})")
            elif f.type == "bool" and not isinstance(value, bool):
                problems.append(f"{path}: must be true or false (got {value!r})")
        for name in _FRACTIONS:
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not 0.0 <= value <= 1.0:
                problems.append(f"synth.{name}: must be in [0, 1] (got {value})")
        if isinstance(self.zipf_exponent, (int, float)) and not 0.0 <= self.zipf_exponent <= 4.0:
            problems.append(f"synth.zipf_exponent: must be in [0, 4] (got {self.zipf_exponent})")
        unknown = [lang for lang in self.languages if lang not in LANGUAGES]
        if unknown:
            problems.append(f"synth.languages: unknown language(s) {', '.join(map(str, unknown))} "
                            f"(allowed: {', '.join(LANGUAGES)})")
        if "en" not in self.languages or len(set(self.languages)) < 2:
            problems.append("synth.languages: must contain en and at least one other language "
                            f"(allowed: {', '.join(LANGUAGES)})")
        if len(set(self.languages)) != len(self.languages):
            problems.append("synth.languages: must not repeat a language")
        for lang, weight in self.corpus_lang_weights:
            if lang not in self.languages:
                problems.append(f"synth.corpus_lang_weights.{lang}: not one of the configured languages "
                                f"(allowed: {', '.join(self.languages)})")
            if not (weight >= 0.0 and math.isfinite(weight)):
                problems.append(f"synth.corpus_lang_weights.{lang}: must be a finite number >= 0 (got {weight})")
        for task, size in self.task_train_sizes:
            if task not in TRAINED_TARGET_TASKS:
                problems.append(f"synth.task_train_sizes.{task}: not a target task with a train split "
                                f"(allowed: {', '.join(TRAINED_TARGET_TASKS)})")
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                problems.append(f"synth.task_train_sizes.{task}: must be an integer > 0 (got {size!r})")
        if self.corpus_lang_weights and not sum(w for _, w in self.corpus_lang_weights) > 0:
            problems.append("synth.corpus_lang_weights: weights must not all be 0")
        if (isinstance(self.doc_sentences_min, int) and isinstance(self.doc_sentences_max, int)
                and self.doc_sentences_min > self.doc_sentences_max):
            problems.append(f"synth.doc_sentences_max: must be >= doc_sentences_min ({self.doc_sentences_min})")
        if isinstance(self.bucc_distractor_fraction, (int, float)) and self.bucc_distractor_fraction >= 1.0:
            problems.append("synth.bucc_distractor_fraction: must be < 1 (some rows need a translation)")
        if problems:
            raise UserError("\n".join(problems))

    def lang_weights(self) -> dict[str, float]:
        """Normalised corpus share of each configured language."""
        if self.corpus_lang_weights:
            given = dict(self.corpus_lang_weights)
            raw = {lang: given.get(lang, 0.0) for lang in self.languages}
        else:
            others = [lang for lang in self.languages if lang != "en"]
            raw = {lang: (DEFAULT_EN_WEIGHT if lang == "en" else (1 - DEFAULT_EN_WEIGHT) / len(others))
                   for lang in self.languages}
        total = sum(raw.values())
        return {lang: w / total for lang, w in raw.items()}

    def train_size(self, task: str) -> int:
        """Rows of target task `task`'s English train split."""
        return dict(self.task_train_sizes).get(task, self.target_train_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every knob (the manifest's `config`)."""
        out = dataclasses.asdict(self)
        out["languages"] = list(self.languages)
        out["corpus_lang_weights"] = {k: v for k, v in self.corpus_lang_weights}
        out["task_train_sizes"] = {k: v for k, v in self.task_train_sizes}
        return out


_FRACTIONS = ("synonym_fraction", "homograph_fraction", "name_sharing", "loanword_fraction",
              "parallel_fraction", "code_switch_prob", "bucc_distractor_fraction",
              "squad_v2_unanswerable_fraction", "task_overlap")

KNOBS: tuple[str, ...] = tuple(f.name for f in fields(SynthConfig))
"""Names accepted as keyword knobs by `generate`, `ensure` and `make_config`."""

PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(
        corpus_tokens=150_000, intermediate_train_size=200, intermediate_validation_size=60,
        target_train_size=200, target_validation_size=60, test_size=100, retrieval_validation_size=50),
    "small": SynthConfig(
        corpus_tokens=600_000, intermediate_train_size=2_000, intermediate_validation_size=300,
        target_train_size=1_000, target_validation_size=300, test_size=300, retrieval_validation_size=150),
    # 20% code-switching: `clone` shares no word with English, and at 10% a short pretraining run
    # aligned it unreliably (docs/synth-benchmark-design.md).
    "default": SynthConfig(task_train_sizes=(("xnli", 40_000),), code_switch_prob=0.2),
}
"""Named starting points: `tiny` for unit tests, `small` for smoke sweeps, `default` for real sweeps."""


def make_config(preset: str = "default", **knobs: Any) -> SynthConfig:
    """The preset's config with `knobs` overriding it; every problem is reported at once."""
    problems = []
    if preset not in PRESETS:
        problems.append(f"synth.preset: unknown preset {preset!r} (allowed: {', '.join(PRESETS)})")
    unknown = sorted(k for k in knobs if k not in KNOBS)
    for name in unknown:
        problems.append(f"synth.{name}: unknown knob (allowed: {', '.join(KNOBS)})")
    base = PRESETS.get(preset, PRESETS["default"])
    known = {k: v for k, v in knobs.items() if k in KNOBS}
    try:
        config = dataclasses.replace(base, **known)
    except UserError as err:
        problems.extend(str(err).splitlines())
        config = None
    if problems:
        raise UserError("\n".join(problems))
    assert config is not None
    return config
