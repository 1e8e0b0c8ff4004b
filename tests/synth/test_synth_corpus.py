"""The pretraining corpus: a prefix-stable stream of comparable, code-switched documents."""

import dataclasses
from collections import Counter

from xscale.synth import PRESETS, load_corpus
from xscale.synth.corpus import build_corpus
from xscale.synth.languages import OWN_SCRIPT

SENTENCE_ENDS = {".", "?", ".".translate(OWN_SCRIPT), "?".translate(OWN_SCRIPT)}


def _sentences(text):
    """Sentences of a document, in either script."""
    return sum(w in SENTENCE_ENDS for w in text.split())


def _build(ctx, **knobs):
    config = dataclasses.replace(PRESETS["tiny"], **knobs)
    return build_corpus(ctx.world, ctx.realisers, config, ctx.seed)


def test_corpus_of_n_tokens_is_a_prefix_of_the_corpus_of_2n(tiny_ctx):
    small, large = _build(tiny_ctx, corpus_tokens=8_000), _build(tiny_ctx, corpus_tokens=16_000)
    assert large[:len(small)] == small
    assert sum(r.n_tokens for r in small) >= 8_000 > sum(r.n_tokens for r in small[:-1])
    assert len(large) > len(small)


def test_stored_corpus_matches_the_stream(tiny_bench, tiny_ctx):
    stored = load_corpus(tiny_bench)
    assert stored.column_names == ["lang", "text", "n_tokens"]
    assert str(stored.features["n_tokens"].dtype) == "int32"
    stream = _build(tiny_ctx, corpus_tokens=10_000)
    assert stored[:len(stream)]["text"] == [r.text for r in stream]
    assert all(len(t.split()) == n for t, n in zip(stored["text"][:200], stored["n_tokens"][:200]))


def test_language_mix_is_english_heavy(tiny_bench):
    shares = Counter(load_corpus(tiny_bench)["lang"])
    total = sum(shares.values())
    assert set(shares) == set(PRESETS["tiny"].languages)
    assert 0.24 < shares["en"] / total < 0.36
    assert all(0.08 < shares[lang] / total < 0.2 for lang in shares if lang != "en")


def test_documents_are_short_and_topical(tiny_bench):
    texts = load_corpus(tiny_bench)["text"][:300]
    sentences = [_sentences(t) for t in texts]
    assert min(sentences) >= 2 and max(sentences) <= 12
    lengths = [len(t.split()) for t in texts]
    assert 20 < sum(lengths) / len(lengths) < 150


def test_code_switching_and_parallel_documents_follow_their_knobs(tiny_ctx):
    english = {f for f in tiny_ctx.realisers["en"].forms if f}

    def foreign_share(rows):
        words = [w for r in rows if r.lang == "en" for w in r.text.split()]
        return sum(w not in english for w in words) / len(words)

    plain = _build(tiny_ctx, corpus_tokens=20_000, code_switch_prob=0.0, parallel_fraction=0.0)
    mixed = _build(tiny_ctx, corpus_tokens=20_000, code_switch_prob=0.3, parallel_fraction=1.0)
    assert foreign_share(plain) == 0.0
    assert 0.15 < foreign_share(mixed) < 0.35
    # With parallel_fraction 1 every document is followed by its translation into another language.
    assert all(mixed[k].lang != mixed[k + 1].lang for k in range(0, len(mixed) - 1, 2))
    assert all(_sentences(a.text) == _sentences(b.text) for a, b in zip(mixed[0::2], mixed[1::2]))


def test_code_switching_never_crosses_scripts(tiny_ctx):
    """`inv` is written in its own script: its documents hold only its own words, and no other document
    borrows one of them, however high `code_switch_prob` is."""
    inv = {f for f in tiny_ctx.realisers["inv"].forms if f}
    rows = _build(tiny_ctx, corpus_tokens=20_000, code_switch_prob=0.5, parallel_fraction=0.0)
    inv_words = [w for r in rows if r.lang == "inv" for w in r.text.split()]
    other_words = [w for r in rows if r.lang != "inv" for w in r.text.split()]
    assert len(inv_words) > 1000 and all(w in inv for w in inv_words)
    assert not inv & set(other_words)
