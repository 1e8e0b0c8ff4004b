"""Knob validation: every problem is a UserError naming the field, all reported at once."""

import dataclasses

import pytest

from xscale.errors import UserError
from xscale.synth import LANGUAGES, PRESETS, SynthConfig, make_config


def test_presets_are_valid_and_ordered_by_size():
    assert set(PRESETS) == {"tiny", "small", "default"}
    sizes = [PRESETS[p].corpus_tokens for p in ("tiny", "small", "default")]
    assert sizes == sorted(sizes)
    assert PRESETS["default"].intermediate_train_size == 20_000
    assert PRESETS["default"].test_size == 1_000
    assert PRESETS["default"].languages == LANGUAGES


def test_config_is_frozen_and_knobs_override_the_preset():
    config = make_config("tiny", code_switch_prob=0.2, corpus_lang_weights={"en": 1, "sov": 1})
    assert config.code_switch_prob == 0.2
    assert config.test_size == PRESETS["tiny"].test_size
    assert config.lang_weights()["en"] == pytest.approx(0.5)
    assert config.lang_weights()["clone"] == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.test_size = 3  # type: ignore[misc]


def test_task_train_sizes_override_the_target_train_size():
    assert PRESETS["default"].train_size("xnli") == 40_000
    assert PRESETS["default"].train_size("udpos") == PRESETS["default"].target_train_size == 5_000
    config = make_config("tiny", task_train_sizes={"pawsx": 7})
    assert config.task_train_sizes == (("pawsx", 7),)
    assert config.train_size("pawsx") == 7 and config.train_size("xnli") == PRESETS["tiny"].target_train_size


def test_default_language_weights_are_english_heavy():
    weights = PRESETS["default"].lang_weights()
    assert weights["en"] == pytest.approx(0.3)
    assert sum(weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("preset, knobs, needle", [
    ("huge", {}, "synth.preset: unknown preset 'huge' (allowed: tiny, small, default)"),
    ("tiny", {"corpus_size": 5}, "synth.corpus_size: unknown knob (allowed: languages,"),
    ("tiny", {"languages": ("en", "klingon")}, "synth.languages: unknown language(s) klingon (allowed: en, clone"),
    ("tiny", {"languages": ("sov",)}, "synth.languages: must contain en"),
    ("tiny", {"code_switch_prob": 1.5}, "synth.code_switch_prob: must be in [0, 1] (got 1.5)"),
    ("tiny", {"task_overlap": -0.1}, "synth.task_overlap: must be in [0, 1]"),
    ("tiny", {"test_size": 0}, "synth.test_size: must be > 0 (got 0)"),
    ("tiny", {"corpus_tokens": -5}, "synth.corpus_tokens: must be > 0"),
    ("tiny", {"target_train_size": 2.5}, "synth.target_train_size: must be an integer"),
    ("tiny", {"corpus_lang_weights": {"xx": 1.0}}, "synth.corpus_lang_weights.xx: not one of the configured"),
    ("tiny", {"doc_sentences_min": 9, "doc_sentences_max": 3}, "synth.doc_sentences_max: must be >="),
    ("tiny", {"task_train_sizes": {"tatoeba": 10}}, "synth.task_train_sizes.tatoeba: not a target task with a "
                                                    "train split (allowed: xnli, pawsx, udpos, panx, xquad)"),
    ("tiny", {"task_train_sizes": {"xnli": 0}}, "synth.task_train_sizes.xnli: must be an integer > 0 (got 0)"),
])
def test_bad_knobs_raise_user_error_naming_the_field(preset, knobs, needle):
    with pytest.raises(UserError) as err:
        make_config(preset, **knobs)
    assert needle in str(err.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(UserError) as err:
        make_config("nope", bogus=1, test_size=0, name_sharing=2.0)
    lines = str(err.value).splitlines()
    assert any(line.startswith("synth.preset:") for line in lines)
    assert any(line.startswith("synth.bogus:") for line in lines)
    assert any(line.startswith("synth.test_size:") for line in lines)
    assert any(line.startswith("synth.name_sharing:") for line in lines)


def test_direct_construction_validates_too():
    with pytest.raises(UserError, match="synth.parallel_fraction"):
        SynthConfig(parallel_fraction=3.0)


def test_every_knob_has_a_docstring_line():
    import inspect

    import xscale.synth.config as module

    source = inspect.getsource(module.SynthConfig)
    for field in dataclasses.fields(SynthConfig):
        after = source.split(f"    {field.name}:", 1)[1].splitlines()[1].strip()
        assert after.startswith('"""'), field.name
