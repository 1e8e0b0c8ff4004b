"""Labels come from MRs, so every language's data is a translation of the English data."""

import random
from collections import Counter

import pytest

from xscale.synth import LANGUAGES, load_task
from xscale.synth import items as it
from xscale.synth.tasks import TASKS, iob_tags, make_items, retrieval_sentences
from xscale.synth.world import NER_OF_TYPE, rng_for

OTHERS = [lang for lang in LANGUAGES if lang != "en"]


@pytest.mark.parametrize("name", ["squad", "squad_v2", "xquad"])
def test_answer_spans_point_into_the_context_in_every_language(tiny_bench, name):
    data = load_task(tiny_bench, name)
    answered = 0
    for split in data.values():
        for row in split:
            for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
                assert row["context"][start:start + len(text)] == text
                answered += 1
    assert answered > 0


def test_xquad_tests_are_translations(tiny_bench):
    data = load_task(tiny_bench, "xquad")
    en = data["test.en"]
    for lang in OTHERS:
        other = data[f"test.{lang}"]
        assert other["id"] == en["id"]
        assert [len(a["text"]) for a in other["answers"]] == [len(a["text"]) for a in en["answers"]]
        assert sum(a == b for a, b in zip(other["context"], en["context"])) == 0


def test_squad_v2_has_unanswerable_questions(tiny_bench):
    train = load_task(tiny_bench, "squad_v2")["train"]
    unanswerable = [a for a in train["answers"] if not a["text"]]
    assert 0.2 < len(unanswerable) / len(train) < 0.45
    assert all(a["answer_start"] == [] for a in unanswerable)


@pytest.mark.parametrize("name, column", [("xnli", "label"), ("pawsx", "label"), ("pawsx", "id")])
def test_classification_tests_share_labels_across_languages(tiny_bench, name, column):
    data = load_task(tiny_bench, name)
    for lang in OTHERS:
        assert data[f"test.{lang}"][column] == data["test.en"][column]


def _tags_by_node(ctx, sentence, lang):
    toks = ctx.realisers[lang].sentence(sentence)
    upos = {t[1]: ctx.world.key_upos[t[0]] for t in toks}
    ent = {t[1]: t[3] for t in toks}
    return upos, ent, toks


@pytest.mark.parametrize("maker", ["tagging", "ner"])
def test_same_node_gets_the_same_tags_in_every_language(tiny_ctx, maker):
    for i in range(150):
        rng = random.Random(i)
        if maker == "tagging":
            sentence = it.tagging_item(tiny_ctx.world, rng, i % tiny_ctx.world.n_topics)
        else:
            sentence = it.ner_item(tiny_ctx.world, rng, i % 3, i % tiny_ctx.world.n_topics)
        en_upos, en_ent, _ = _tags_by_node(tiny_ctx, sentence, "en")
        for lang in OTHERS:
            upos, ent, toks = _tags_by_node(tiny_ctx, sentence, lang)
            shared = en_upos.keys() & upos.keys()
            # Only articles and the question auxiliary may be missing (sov has no `the`, vso/sov use `q`).
            assert all(node.endswith((".det", ".aux")) for node in en_upos.keys() - upos.keys())
            assert all(upos[node] == en_upos[node] for node in shared)
            assert all(ent[node] == en_ent[node] for node in shared)
            # Extra nodes are grammatical markers (case, question particle) only.
            assert all(upos[node] in ("ADP", "PART", "AUX") for node in upos.keys() - en_upos.keys())
            # IOB2: one B per entity span in every language.
            tags = iob_tags(toks)
            assert Counter(t for t in tags if t.startswith("B-")) == \
                Counter(t for t in iob_tags(_tags_by_node(tiny_ctx, sentence, "en")[2]) if t.startswith("B-"))
            assert all(not t.startswith("I-") or tags[k - 1][2:] == t[2:] for k, t in enumerate(tags))


def test_sov_marks_exactly_the_definite_objects(tiny_ctx):
    """Differential object marking: `acc` follows an object that English makes definite (`the`, a name,
    a pronoun, a question word), never an indefinite object (`a`) or a subject; `sov` has no `the`."""
    from xscale.synth.world import FW

    marked = unmarked = 0
    for i in range(300):
        sentence = it.tagging_item(tiny_ctx.world, random.Random(i), i % tiny_ctx.world.n_topics)
        en = tiny_ctx.realisers["en"].sentence(sentence)
        sov = tiny_ctx.realisers["sov"].sentence(sentence)
        cases = {node[:-len(".case")] for key, node, *_ in sov if node.endswith(".case")}
        assert all(key == FW["acc"] for key, node, *_ in sov if node.endswith(".case"))
        assert all(key != FW["the"] for key, *_ in sov)
        objects = {node.split(".obj")[0] + ".obj" for _, node, *_ in en if ".obj" in node}
        for obj in objects:
            indefinite = any(node == obj + ".det" and key == FW["a"] for key, node, *_ in en)
            assert (obj in cases) != indefinite, obj
            marked, unmarked = marked + (not indefinite), unmarked + indefinite
        assert cases <= objects
    assert marked > 20 and unmarked > 20


def test_inv_shares_no_anchor_but_keeps_number_values(tiny_ctx):
    """`inv`, the floor, is written in its own script: none of its punctuation, digits or names is spelled
    like any other language's word, while the other languages share the designed anchors."""
    from xscale.synth.languages import OWN_SCRIPT

    world = tiny_ctx.world
    forms = {code: realiser.forms for code, realiser in tiny_ctx.realisers.items()}
    anchors = [k for k, kind in enumerate(world.key_kind) if kind in ("punct", "num", "name")]
    inv = {forms["inv"][k] for k in anchors}
    others = {f for code in forms if code != "inv" for f in forms[code] if f is not None}
    assert not inv & others
    shared = [k for k in anchors if len({forms[code][k] for code in forms if code != "inv"}) == 1]
    assert len(shared) > len(anchors) // 2  # punctuation, digits and the shared half of the names
    for k, kind in enumerate(world.key_kind):
        if kind == "num":
            assert forms["inv"][k] == world.key_gloss[k].translate(OWN_SCRIPT)
            assert int(forms["inv"][k]) == int(world.key_gloss[k])  # Devanagari digits


def test_panx_entities_agree_across_languages(tiny_bench):
    data = load_task(tiny_bench, "panx")
    names = data["test.en"].features["ner_tags"].feature.names

    def spans(tags):
        return Counter(names[t][2:] for t in tags if names[t].startswith("B-"))

    en = [spans(t) for t in data["test.en"]["ner_tags"]]
    for lang in OTHERS:
        assert [spans(t) for t in data[f"test.{lang}"]["ner_tags"]] == en
        assert all(set(langs) == {lang} for langs in data[f"test.{lang}"]["langs"])
    assert all(sum(s.values()) >= 1 for s in en)
    assert set(NER_OF_TYPE.values()) == {k for s in en for k in s}


def test_udpos_has_ambiguous_word_forms(tiny_bench):
    train = load_task(tiny_bench, "udpos")["train"]
    tags_of = {}
    for tokens, tags in zip(train["tokens"], train["pos_tags"]):
        for w, t in zip(tokens, tags):
            tags_of.setdefault(w, set()).add(t)
    assert any(len(tags) > 1 for tags in tags_of.values())
    used = {t for tags in train["pos_tags"] for t in tags}
    assert len(used) >= 15


def test_tatoeba_pairs_are_realisations_of_the_same_mr(tiny_bench, tiny_ctx):
    data = load_task(tiny_bench, "tatoeba")
    n_test, n_val = len(data["test.sov"]), len(data["validation.sov"])
    sentences = retrieval_sentences(tiny_ctx, "tatoeba", n_test + n_val)
    for lang in OTHERS:
        test = data[f"test.{lang}"]
        assert test["source_sentence"] == [tiny_ctx.realisers[lang].text(s) for s in sentences[:n_test]]
        assert test["target_sentence"] == [tiny_ctx.realisers["en"].text(s) for s in sentences[:n_test]]
    english_test = set(data["test.sov"]["target_sentence"])
    assert len(english_test) == n_test
    assert not english_test & set(data["validation.sov"]["target_sentence"])


def test_bucc_gold_points_to_the_translation(tiny_bench):
    data = load_task(tiny_bench, "bucc")
    for lang in OTHERS:
        rows = data[f"test.{lang}"]
        english = {r["id"]: r["sentence"] for r in rows if r["lang"] == "en"}
        foreign = [r for r in rows if r["lang"] == lang]
        assert all(r["gold"] == "" for r in rows if r["lang"] == "en")
        golds = [r["gold"] for r in foreign if r["gold"]]
        assert len(golds) == len(set(golds)) and set(golds) <= english.keys()
        assert any(not r["gold"] for r in foreign)
    en_sov = {r["id"]: r["sentence"] for r in data["test.sov"] if r["lang"] == "en"}
    en_vso = {r["id"]: r["sentence"] for r in data["test.vso"] if r["lang"] == "en"}
    assert set(en_sov.values()) == set(en_vso.values())


def test_train_prefixes_nest(tiny_ctx):
    for name in ("mnli", "squad", "xnli", "hellaswag"):
        short = make_items(tiny_ctx, TASKS[name], "train", 20)
        long = make_items(tiny_ctx, TASKS[name], "train", 40)
        assert long[:20] == short


def test_labels_are_balanced_in_every_prefix(tiny_bench):
    for name, k in (("mnli", 3), ("qqp", 2), ("sst2", 2), ("xnli", 3), ("pawsx", 2)):
        labels = load_task(tiny_bench, name)["train"]["label"]
        for n in (k * 10, k * 33, len(labels)):
            counts = Counter(labels[:n])
            assert max(counts.values()) - min(counts.values()) <= 1, (name, n)
    endings = Counter(load_task(tiny_bench, "hellaswag")["train"]["label"])
    assert set(endings) == {"0", "1", "2", "3"} and max(endings.values()) - min(endings.values()) <= 1


def test_sst2_label_is_the_predicate_polarity_flipped_by_negation(tiny_ctx):
    world = tiny_ctx.world
    for i in range(100):
        label = i % 2
        sentence = it.sst_item(world, random.Random(i), label, 0)
        c = sentence.clauses[0]
        polarity = (world.verbs[world.verb_of_key[c.pred]].polarity if c.pred in world.verb_of_key
                    else world.adjectives[world.adj_of_key[c.pred]].polarity)
        assert (polarity * (-1 if c.neg else 1) > 0) == (label == 1)


def test_pawsx_pairs_have_identical_bags_of_words(tiny_bench):
    data = load_task(tiny_bench, "pawsx")
    for split in data.values():
        for row in split:
            assert sorted(row["sentence1"].split()) == sorted(row["sentence2"].split())
            assert row["sentence1"] != row["sentence2"]


def test_nli_hypothesis_does_not_depend_on_the_label(tiny_ctx):
    en = tiny_ctx.realisers["en"]
    for i in range(60):
        hyps = {en.text(it.nli_item(tiny_ctx.world, en, rng_for(0, "t", i), label, 0, True).second)
                for label in range(3)}
        assert len(hyps) == 1


def test_nli_premise_length_rarely_depends_on_the_label(tiny_ctx):
    en = tiny_ctx.realisers["en"]
    same = 0
    for i in range(100):
        lengths = {len(en.text(it.nli_item(tiny_ctx.world, en, rng_for(0, "t", i), label, 0, True).first).split())
                   for label in range(3)}
        same += len(lengths) == 1
    assert same >= 90
