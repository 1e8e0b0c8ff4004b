"""Readers of the original file formats: Hub schema on real slices, and format edge cases."""

import pytest
from datasets import ClassLabel, List, Value

from xscale.errors import UserError
from xscale.data.local import LOCAL_LAYOUT, load_local
from xscale.tasks.readers import (
    FEATURES,
    LOCAL_READERS,
    read_anli_jsonl,
    read_bucc,
    read_ccg_tsv,
    read_cosmosqa_csv,
    read_panx_tsv,
    read_pawsx_tsv,
    read_squad_json,
    read_sst2_tsv,
    read_tatoeba,
    read_udpos_conllu,
    read_udpos_tsv,
    read_xnli_tsv,
    tokens_only,
)
from xscale.tasks.registry import NLI_LABELS, TASKS, UPOS_TAGS


def test_every_task_has_a_reader_layout_and_schema():
    assert set(LOCAL_READERS) == {t.local_reader for t in TASKS.values()}
    assert set(LOCAL_LAYOUT) == set(FEATURES) == set(TASKS)
    for name, task in TASKS.items():
        assert task.local_reader in LOCAL_READERS, name
        assert name in LOCAL_LAYOUT, name
        assert name in FEATURES, name
        if task.label_field is not None:
            assert task.label_field in FEATURES[name], name
        for column in task.text_fields:
            assert column in FEATURES[name], (name, column)


def test_schema_label_names_match_registry():
    assert FEATURES["xnli"]["label"].names == list(NLI_LABELS)
    assert FEATURES["udpos"]["pos_tags"].feature.names == list(UPOS_TAGS)
    assert len(UPOS_TAGS) == 17
    for name in ("xnli", "pawsx", "qqp", "sst2", "panx"):
        column = FEATURES[name][TASKS[name].label_field]
        names = column.feature.names if isinstance(column, List) else column.names
        assert names == list(TASKS[name].labels), name


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    conllu = tmp_path / "de_toy-ud-test.conllu"
    conllu.write_text(
        "# sent_id = 1\n"
        "1\tIch\tich\tPRON\t_\t_\t2\tnsubj\t_\t_\n"
        "2-3\tzum\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\tzu\tzu\tADP\t_\t_\t4\tcase\t_\t_\n"
        "3\tdem\tder\tDET\t_\t_\t4\tdet\t_\t_\n"
        "3.1\tging\tgehen\tVERB\t_\t_\t_\t_\t_\t_\n"
        "4\tHaus\tHaus\tNOUN\t_\t_\t0\troot\t_\t_\n"
        "\n",
        encoding="utf-8",
    )
    ds = read_udpos_conllu(conllu)
    assert ds[0]["tokens"] == ["Ich", "zu", "dem", "Haus"]
    names = ds.features["pos_tags"].feature.names
    assert [names[t] for t in ds[0]["pos_tags"]] == ["PRON", "ADP", "DET", "NOUN"]


def test_panx_strips_language_prefix(tmp_path):
    tsv = tmp_path / "dev-de.tsv"
    tsv.write_text("de:Anton\tB-PER\nde:liest\tO\n\nde:Berlin\tB-LOC\n", encoding="utf-8")
    ds = read_panx_tsv(tsv, "de")
    assert ds["tokens"] == [["Anton", "liest"], ["Berlin"]]
    assert ds["langs"] == [["de", "de"], ["de"]]
    assert ds["ner_tags"] == [[1, 0], [5]]


def test_bad_label_names_file_and_line(tmp_path):
    tsv = tmp_path / "dev-de.tsv"
    tsv.write_text("a\tb\tentailment\nc\td\tcontradictory\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"dev-de\.tsv:2: label 'contradictory' \(allowed: entailment"):
        read_xnli_tsv(tsv)


def test_bucc_rows_and_gold(tmp_path):
    (tmp_path / "de-en.dev.de").write_text("de-1\tHallo Welt\nde-2\tStörsatz\n", encoding="utf-8")
    (tmp_path / "de-en.dev.en").write_text("en-1\tHello world\nen-2\tNoise\n", encoding="utf-8")
    (tmp_path / "de-en.dev.gold").write_text("de-1\ten-1\n", encoding="utf-8")
    ds = load_local("bucc", tmp_path, "de", "validation")
    assert ds.features == FEATURES["bucc"]
    assert ds["id"] == ["de-1", "de-2", "en-1", "en-2"]
    assert ds["lang"] == ["de", "de", "en", "en"]
    assert ds["gold"] == ["en-1", "", "", ""]
    no_gold = read_bucc(tmp_path / "de-en.dev.de", tmp_path / "de-en.dev.en")
    assert set(no_gold["gold"]) == {""}


def test_tatoeba_line_count_mismatch(tmp_path):
    (tmp_path / "tatoeba.deu-eng.deu").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("a\n", encoding="utf-8")
    with pytest.raises(UserError, match="2 lines but tatoeba.deu-eng.eng has 1"):
        read_tatoeba(tmp_path / "tatoeba.deu-eng.deu", tmp_path / "tatoeba.deu-eng.eng")


def test_load_local_user_errors(tmp_path):
    # Languages are open where file names carry them: an unknown language is a missing file.
    with pytest.raises(UserError, match=r"xnli: no dev-xx\.tsv in .* \(lang=xx, split=validation\)"):
        load_local("xnli", tmp_path, "xx", "validation")
    with pytest.raises(UserError, match=r"'\.\./de' is not a language code \(allowed: letters, digits and hyphens"):
        load_local("xnli", tmp_path, "../de", "validation")
    with pytest.raises(UserError, match=r"mnli: unknown language 'de' \(allowed: en\)"):
        load_local("mnli", tmp_path, "de", "train")
    with pytest.raises(UserError, match=r"unknown split 'train' \(allowed: validation, test\)"):
        load_local("xquad", tmp_path, "de", "train")
    with pytest.raises(UserError, match=r"no dev-de\.tsv in"):
        load_local("xnli", tmp_path, "de", "validation")
    with pytest.raises(UserError, match="does not exist"):
        load_local("xnli", tmp_path / "missing", "de", "validation")


def test_anli_plus_train_adds_mnli_and_snli(tmp_path):
    anli = tmp_path / "intermediate" / "anli"
    mnli = tmp_path / "intermediate" / "mnli"
    snli = tmp_path / "intermediate" / "snli"
    for folder in (anli, mnli, snli):
        folder.mkdir(parents=True)
    (anli / "train_r1.jsonl").write_text(
        '{"uid": "a1", "context": "P1", "hypothesis": "H1", "label": "n"}\n', encoding="utf-8"
    )
    with pytest.raises(UserError, match="ANLI\\+ train split also needs"):
        load_local("anli", tmp_path, "en", "train")
    (mnli / "train.tsv").write_text(
        "index\tsentence1\tsentence2\tgold_label\n0\tP2\tH2\tcontradiction\n", encoding="utf-8"
    )
    (snli / "snli_1.0_train.jsonl").write_text(
        '{"gold_label": "entailment", "sentence1": "P3", "sentence2": "H3", "pairID": "9"}\n'
        '{"gold_label": "-", "sentence1": "P4", "sentence2": "H4", "pairID": "10"}\n',
        encoding="utf-8",
    )
    ds = load_local("anli", tmp_path, "en", "train")
    assert ds.features == FEATURES["anli"]
    assert ds["uid"] == ["a1", "mnli-0", "snli-9"]
    assert ds["premise"] == ["P1", "P2", "P3"]
    assert ds["label"] == [1, 2, 0]


def test_load_local_accepts_a_single_file(tmp_path):
    tsv = tmp_path / "my-ccg.tsv"
    tsv.write_text("I\tNP\nsee\t(S\\NP)/NP\nyou\tNP\n", encoding="utf-8")
    ds = load_local("ccg", tsv, "en", "train")
    assert ds.features == FEATURES["ccg"]
    assert ds[0] == {"tokens": ["I", "see", "you"], "ccg_tags": ["NP", "(S\\NP)/NP", "NP"]}


REAL_CASES = [
    # task, lang, split, expected rows (None: only non-empty)
    ("xquad", "de", "validation", 1190),
    ("xquad", "th", "validation", 1190),
    ("xquad", "zh", "validation", 1190),
    ("xnli", "de", "validation", 2490),
    ("xnli", "sw", "validation", 2490),
    ("pawsx", "de", "validation", 2000),
    ("pawsx", "ja", "validation", 2000),
    ("tatoeba", "de", "test", 1000),
    ("tatoeba", "jv", "test", 205),
    ("panx", "de", "validation", 10000),
    ("udpos", "tr", "test", None),
    ("udpos", "vi", "test", None),
    ("udpos", "zh", "test", None),
    ("mlqa", "de", "validation", 512),
    ("mlqa", "zh", "validation", 504),
    ("tydiqa", "en", "train", 3696),
    ("tydiqa", "sw", "train", 2755),
    ("sst2", "en", "validation", 872),
    ("sst2", "en", "train", 5000),
    ("mnli", "en", "validation", 48),
    ("mnli", "en", "train", 48),
    ("qqp", "en", "train", 32),
    ("qqp", "en", "validation", 32),
    ("hellaswag", "en", "validation", 1000),
    ("commonsenseqa", "en", "validation", 1221),
    ("cosmosqa", "en", "validation", 2985),
    ("anli", "en", "validation", 3198),
    ("squad", "en", "validation", 5),
    ("squad_v2", "en", "validation", 6),
]


@pytest.mark.realdata
@pytest.mark.parametrize("task,lang,split,rows", REAL_CASES)
def test_real_slices_parse_into_hub_schema(realdata, task, lang, split, rows):
    ds = load_local(task, realdata, lang, split)
    assert ds.features == FEATURES[task]
    if rows is None:
        assert len(ds) > 0
    else:
        assert len(ds) == rows


@pytest.mark.realdata
@pytest.mark.parametrize("lang", ["tr", "vi", "zh"])
def test_real_udpos_uses_the_seventeen_upos_tags(realdata, lang):
    ds = load_local("udpos", realdata, lang, "test")
    feature = ds.features["pos_tags"].feature
    assert isinstance(feature, ClassLabel) and feature.names == list(UPOS_TAGS)
    seen = {t for sent in ds["pos_tags"] for t in sent}
    assert seen <= set(range(17)) and len(seen) >= 12
    assert all(len(toks) == len(tags) for toks, tags in zip(ds["tokens"], ds["pos_tags"]))


@pytest.mark.realdata
def test_real_conllu_treebanks(realdata):
    german = read_udpos_conllu(realdata / "udpos" / "de_gsd-ud-test.conllu")
    english = read_udpos_conllu(realdata / "udpos" / "en_ewt-ud-test.conllu")
    assert german.features == english.features == FEATURES["udpos"]
    assert german[0]["tokens"][:3] == ["Der", "Hauptgang", "war"]
    # GSD splits contractions ("zum" = "zu dem"): only the syntactic words are kept.
    words = [tok for sent in german["tokens"] for tok in sent]
    assert "zum" not in words and "dem" in words
    assert len(english) > 2000


@pytest.mark.realdata
def test_real_squad_offsets_point_at_the_answers(realdata):
    cases = [("xquad", "th", "validation"), ("mlqa", "zh", "validation"), ("tydiqa", "sw", "train")]
    for task, lang, split in cases:
        ds = load_local(task, realdata, lang, split)
        for context, answers in zip(ds["context"], ds["answers"]):
            for text, start in zip(answers["text"], answers["answer_start"]):
                assert context[start : start + len(text)] == text


@pytest.mark.realdata
def test_real_squad_v2_has_an_unanswerable_question(realdata):
    ds = load_local("squad_v2", realdata, "en", "validation")
    assert any(a["text"] == [] and a["answer_start"] == [] for a in ds["answers"])


@pytest.mark.realdata
def test_real_bucc_zh_en(realdata):
    ds = load_local("bucc", realdata, "zh", "validation")
    assert ds.features == FEATURES["bucc"]
    zh = ds.filter(lambda row: row["lang"] == "zh")
    assert len(zh) == 8624 and len(ds) - len(zh) == 13589
    gold = [g for g in zh["gold"] if g]
    assert len(gold) == 257 and all(g.startswith("en-") for g in gold)
    assert set(ds.filter(lambda row: row["lang"] == "en")["gold"]) == {""}


@pytest.mark.realdata
def test_real_tatoeba_pairs(realdata):
    ds = load_local("tatoeba", realdata, "de", "test")
    assert ds[0]["source_lang"] == "deu" and ds[0]["target_lang"] == "eng"
    assert all(s and t for s, t in zip(ds["source_sentence"], ds["target_sentence"]))


@pytest.mark.realdata
def test_real_label_values(realdata):
    xnli = load_local("xnli", realdata, "de", "validation")
    assert set(xnli["label"]) == {0, 1, 2}
    anli = load_local("anli", realdata, "en", "validation")
    assert set(anli["label"]) == {0, 1, 2}
    hellaswag = load_local("hellaswag", realdata, "en", "validation")
    assert set(hellaswag["label"]) == {"0", "1", "2", "3"}
    assert all(len(e) == 4 for e in hellaswag["endings"])
    commonsense = load_local("commonsenseqa", realdata, "en", "validation")
    assert commonsense[0]["choices"]["label"] == ["A", "B", "C", "D", "E"]
    cosmos = load_local("cosmosqa", realdata, "en", "validation")
    assert set(cosmos["label"]) == {0, 1, 2, 3}
    assert FEATURES["cosmosqa"]["label"] == Value("int32")


# -- files as researchers have them: one line reader checks every format

BOM = "\ufeff"


def write(path, text: str, encoding: str = "utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path

# One well-formed file per line-reading format: (reader, file name, text).
FORMATS = [
    (read_xnli_tsv, "dev-de.tsv", "Er geht.\tEr läuft.\tentailment\n"),
    (read_pawsx_tsv, "dev-de.tsv", "Er geht.\tEr läuft.\t1\n"),
    (read_udpos_tsv, "dev-de.tsv", "Das\tDET\nHäuser\tNOUN\n"),
    (lambda p: read_panx_tsv(p, "de"), "dev-de.tsv", "de:Köln\tB-LOC\n"),
    (read_ccg_tsv, "train.tsv", "Häuser\tN\n"),
    (read_udpos_conllu, "de_x-ud-test.conllu", "# sent_id = 1\n1\tHäuser\tHaus\tNOUN\t_\t_\t0\troot\t_\t_\n"),
    (read_squad_json, "xquad.de.json", ('{"data": [{"title": "T", "paragraphs": [{"context": "Köln liegt am '
                                        'Rhein.", "qas": [{"id": "q1", "question": "Wo?", "answers": [{"text": '
                                        '"Rhein", "answer_start": 14}]}]}]}]}\n')),
    (read_sst2_tsv, "dev.tsv", "sentence\tlabel\nschön\t1\n"),
    (read_anli_jsonl, "dev_r1.jsonl", '{"uid": "a", "premise": "schön", "hypothesis": "h", "label": "e"}\n'),
    (read_cosmosqa_csv, "valid.csv",
     "id,context,question,answer0,answer1,answer2,answer3,label\nq,schön,?,a,b,c,d,0\n"),
    (lambda p: read_tatoeba(p, p), "tatoeba.deu-eng.deu", "Schön.\n"),
]
FORMAT_IDS = ["xnli", "pawsx", "udpos", "panx", "ccg", "conllu", "squad", "glue", "jsonl", "csv", "tatoeba"]


@pytest.mark.parametrize("reader,name,text", FORMATS, ids=FORMAT_IDS)
def test_every_format_strips_a_bom_and_windows_line_ends(tmp_path, reader, name, text):
    plain = reader(write(tmp_path / "plain" / name, text))
    assert reader(write(tmp_path / "bom" / name, BOM + text)).to_list() == plain.to_list()
    assert reader(write(tmp_path / "crlf" / name, text.replace("\n", "\r\n"))).to_list() == plain.to_list()
    assert BOM not in str(plain.to_list()) and "\r" not in str(plain.to_list())


@pytest.mark.parametrize("reader,name,text", FORMATS, ids=FORMAT_IDS)
def test_every_format_names_file_line_and_byte_of_non_utf8(tmp_path, reader, name, text):
    path = write(tmp_path / name, text, encoding="latin-1")
    with pytest.raises(UserError) as err:
        reader(path)
    message = str(err.value)
    assert "\n" not in message
    lineno = next(i for i, line in enumerate(text.splitlines(), start=1) if any(c in line for c in "äöé"))
    assert message.startswith(f"{path}:{lineno}: not UTF-8: byte 0x")
    assert "(allowed: UTF-8 text" in message


@pytest.mark.parametrize("reader,name,text", FORMATS, ids=FORMAT_IDS)
@pytest.mark.parametrize("content", ["", "\n\n", BOM])
def test_every_format_rejects_an_empty_file(tmp_path, reader, name, text, content):
    path = write(tmp_path / name, content)
    with pytest.raises(UserError, match=rf"^{path}: empty file"):
        reader(path)


def test_bom_before_the_first_token_prefix_and_comment(tmp_path):
    ud = read_udpos_tsv(write(tmp_path / "dev-de.tsv", BOM + "Das\tDET\nHaus\tNOUN\n"))
    assert ud["tokens"] == [["Das", "Haus"]]
    panx = read_panx_tsv(write(tmp_path / "panx.tsv", BOM + "de:Anton\tB-PER\n"), "de")
    assert panx["tokens"] == [["Anton"]]
    conllu = read_udpos_conllu(write(tmp_path / "de-ud-test.conllu", BOM + "# sent_id = 1\n"
                                     "1\tDas\tder\tDET\t_\t_\t2\tdet\t_\t_\n"
                                     "2\tHaus\tHaus\tNOUN\t_\t_\t0\troot\t_\t_\n"))
    assert conllu["tokens"] == [["Das", "Haus"]]


@pytest.mark.parametrize("reader,text,lineno,problem", [
    (read_udpos_tsv, "Das\tDET\nHaus\tNOUN\tX\n", 2, "expected 2 tab-separated fields, got 3"),
    (read_udpos_tsv, "Das\tDET\nHaus\n", 2, "expected 2 tab-separated fields, got 1"),
    (lambda p: read_panx_tsv(p, "de"), "Anton\tB-PER\tO\n", 1, "expected 2 tab-separated fields, got 3"),
    (read_xnli_tsv, "a\tb\tneutral\tx\n", 1, "expected 3 tab-separated fields, got 4"),
    (read_ccg_tsv, "I\tNP\n\tN\n", 2, "empty token"),
    (read_udpos_tsv, " \tNOUN\n", 1, "empty token"),
    (read_ccg_tsv, "I\tNP\nsee\t\n", 2, "empty tag"),
    (read_udpos_tsv, "Das\tDET\n\t\n", 2, "empty token"),  # a tab makes it a line, not a sentence break
    (read_udpos_conllu, "1\t\tx\tNOUN\t_\t_\t0\troot\t_\t_\n", 1, "empty token"),
    (read_udpos_conllu, "1\tDas\tder\tDET\t_\t_\t0\troot\t_\n", 1, "expected 10 tab-separated fields, got 9"),
    (read_bucc, "de-1\tHallo\tWelt\n", 1, "expected 2 tab-separated fields, got 3"),
    (read_sst2_tsv, "sentence\tlabel\ngut\t1\textra\n", 2, "expected 2 tab-separated fields, got 3"),
    (read_cosmosqa_csv, "id,context,question,answer0,answer1,answer2,answer3,label\nq,c,?,a,b,c\n", 2,
     "expected 8 comma-separated fields, got 6"),
    (read_pawsx_tsv, "id\tsentence1\tsentence2\tlabel\nx\ta\tb\t1\n", 2, "id 'x' (allowed: an integer)"),
    (read_squad_json, '{"data": [\n  {"title": }\n]}\n', 2, "not JSON (Expecting value)"),
])
def test_malformed_lines_name_file_and_line(tmp_path, reader, text, lineno, problem):
    path = write(tmp_path / "bad.tsv", text)
    call = (lambda: reader(path, path)) if reader is read_bucc else (lambda: reader(path))
    with pytest.raises(UserError) as err:
        call()
    assert str(err.value) == f"{path}:{lineno}: {problem}"


def test_a_header_without_rows_is_an_error(tmp_path):
    path = write(tmp_path / "dev.tsv", "sentence\tlabel\n")
    with pytest.raises(UserError, match=rf"^{path}: no rows"):
        read_sst2_tsv(path)


def test_csv_keeps_line_breaks_inside_quoted_fields(tmp_path):
    path = write(tmp_path / "valid.csv", 'id,context,question,answer0,answer1,answer2,answer3,label\r\n'
                                         'q,"one\r\ntwo",?,a,b,c,d,1\r\n')
    assert read_cosmosqa_csv(path)["context"] == ["one\ntwo"]


def test_tokens_only_recognises_xtremes_hidden_test_files(tmp_path):
    assert tokens_only(write(tmp_path / "test-de.tsv", BOM + "Das\nHaus\n\nKöln\n"))
    assert not tokens_only(write(tmp_path / "dev-de.tsv", "Das\tDET\n"))
    mixed = write(tmp_path / "mixed.tsv", "Das\nHaus\tNOUN\n")
    assert not tokens_only(mixed)
    with pytest.raises(UserError, match=rf"^{mixed}:1: expected 2 tab-separated fields, got 1"):
        read_udpos_tsv(mixed)
