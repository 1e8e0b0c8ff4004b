"""Extractive QA features: labels, windows and span decoding round-trip with oracle logits."""

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from xscale.tasks.qa import CLS_INDEX, postprocess_predictions, prepare_eval_features, prepare_train_features
from xscale.data.local import load_local

XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", cls_token="<s>", eos_token="</s>",
        sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )


def word_level_tokenizer(texts: list[str], path) -> PreTrainedTokenizerFast:
    """The synthetic benchmark's kind: WordLevel + WhitespaceSplit, RoBERTa post-processor, saved to JSON."""
    words = sorted({w for t in texts for w in t.split()})
    vocab = {tok: i for i, tok in enumerate(XLMR_SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok.save(str(path))
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path), bos_token="<s>", cls_token="<s>", eos_token="</s>",
        sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )


def oracle_logits(features: dict, examples: dict) -> tuple[np.ndarray, np.ndarray, list]:
    """Logits peaking at the first/last context token overlapping the gold answer, found
    independently of the code under test from the eval features' offsets."""
    index = {qid: i for i, qid in enumerate(examples["id"])}
    width = max(len(o) for o in features["offset_mapping"])
    starts = np.full((len(features["offset_mapping"]), width), -10.0)
    ends = np.full_like(starts, -10.0)
    spans = []
    for row, (qid, offsets) in enumerate(zip(features["example_id"], features["offset_mapping"])):
        answers = examples["answers"][index[qid]]
        begin = answers["answer_start"][0]
        finish = begin + len(answers["text"][0])
        inside = [i for i, o in enumerate(offsets) if o is not None and o[0] < finish and o[1] > begin]
        context = [o for o in offsets if o is not None]
        whole = bool(inside) and context[0][0] <= begin and context[-1][1] >= finish
        span = (inside[0], inside[-1]) if whole else (CLS_INDEX, CLS_INDEX)
        starts[row, span[0]] = 10.0
        ends[row, span[1]] = 10.0
        spans.append(span)
    return starts, ends, spans


def aligned(context: str, windows: list[list], begin: int, finish: int) -> bool:
    """Whether the answer starts and ends on token boundaries (ignoring a token's leading space)."""
    offsets = [o for window in windows for o in window if o is not None and o[1] > o[0]]
    lefts = {o[0] + (context[o[0]] == " ") for o in offsets}
    rights = {o[1] for o in offsets}
    return begin in lefts and finish in rights


def span_text(context: str, offsets: list, span: tuple[int, int]) -> str:
    if span == (CLS_INDEX, CLS_INDEX):
        return ""
    return context[offsets[span[0]][0] : offsets[span[1]][1]].strip()


def check_round_trip(examples: dict, tokenizer, max_seq_len: int, doc_stride: int) -> tuple[int, int]:
    train = prepare_train_features(examples, tokenizer, max_seq_len, doc_stride)
    evaluation = prepare_eval_features(examples, tokenizer, max_seq_len, doc_stride)
    assert train["input_ids"] == evaluation["input_ids"]
    assert all(len(ids) <= max_seq_len for ids in train["input_ids"])
    starts, ends, spans = oracle_logits(evaluation, examples)
    contexts = dict(zip(examples["id"], examples["context"]))
    labelled = zip(
        evaluation["example_id"], evaluation["offset_mapping"],
        train["start_positions"], train["end_positions"], spans,
    )
    for qid, offsets, start, end, oracle in labelled:
        # Tokens may share offsets (a lone "▁" and the next character): compare the text spanned.
        assert span_text(contexts[qid], offsets, (start, end)) == span_text(contexts[qid], offsets, oracle)
    predictions = postprocess_predictions(examples, evaluation, starts, ends, max_answer_len=64)
    exact = checked = 0
    for qid, context, answers in zip(examples["id"], examples["context"], examples["answers"]):
        gold = answers["text"][0]
        assert gold in predictions[qid], (predictions[qid], gold)
        begin = answers["answer_start"][0]
        windows = [o for q, o in zip(evaluation["example_id"], evaluation["offset_mapping"]) if q == qid]
        if aligned(context, windows, begin, begin + len(gold)):
            checked += 1
            exact += predictions[qid] == gold
    assert exact == checked
    return checked, len(examples["id"])


CONTEXT = (
    "The river town keeps a small museum of old boats . "
    "Every summer the museum opens a hall for visiting painters . "
    "In 1998 a storm flooded the lower hall and destroyed twelve canvases . "
    "The mayor , Ana Ruiz , raised money to rebuild it within a year . "
    "Today the hall shows local art and hosts a boat festival each August ."
)


def toy_examples() -> dict:
    answers = ["twelve canvases", "Ana Ruiz", "each August", "The river town"]
    questions = [
        "What did the storm destroy ?",
        "Who raised money ?",
        "When is the boat festival ?",
        "Which place keeps a museum ?",
    ]
    return {
        "id": [f"q{i}" for i in range(4)],
        "title": ["toy"] * 4,
        "context": [CONTEXT] * 4,
        "question": questions,
        "answers": [{"text": [a], "answer_start": [CONTEXT.index(a)]} for a in answers],
    }


def test_word_level_round_trip_with_several_windows(tmp_path):
    examples = toy_examples()
    tokenizer = word_level_tokenizer([CONTEXT] + examples["question"], tmp_path / "tokenizer.json")
    evaluation = prepare_eval_features(examples, tokenizer, max_seq_len=24, doc_stride=6)
    windows = [q for q in evaluation["example_id"] if q == "q0"]
    assert len(windows) > 3
    checked, total = check_round_trip(examples, tokenizer, max_seq_len=24, doc_stride=6)
    assert checked == total == 4


def test_doc_stride_is_the_advance_between_windows(tmp_path):
    examples = toy_examples()
    tokenizer = word_level_tokenizer([CONTEXT] + examples["question"], tmp_path / "tokenizer.json")
    evaluation = prepare_eval_features(examples, tokenizer, max_seq_len=24, doc_stride=6)
    words = CONTEXT.split(" ")
    word_starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    for qid in examples["id"]:
        firsts = [
            next(o for o in offsets if o is not None)[0]
            for q, offsets in zip(evaluation["example_id"], evaluation["offset_mapping"])
            if q == qid
        ]
        positions = [word_starts.index(f) for f in firsts]
        assert positions[0] == 0
        assert all(b - a == 6 for a, b in zip(positions, positions[1:]))
        assert positions[-1] + 24 >= len(words)


def test_unanswerable_labels_cls_and_null_answer(tmp_path):
    examples = toy_examples()
    examples["answers"][1] = {"text": [], "answer_start": []}
    tokenizer = word_level_tokenizer([CONTEXT] + examples["question"], tmp_path / "tokenizer.json")
    train = prepare_train_features(examples, tokenizer, max_seq_len=64, doc_stride=16)
    evaluation = prepare_eval_features(examples, tokenizer, max_seq_len=64, doc_stride=16)
    rows = [i for i, q in enumerate(evaluation["example_id"]) if q == "q1"]
    assert all(train["start_positions"][i] == train["end_positions"][i] == CLS_INDEX for i in rows)
    width = max(len(o) for o in evaluation["offset_mapping"])
    starts = np.zeros((len(rows) + len(evaluation["example_id"]) - len(rows), width))
    ends = np.zeros_like(starts)
    for i in rows:
        starts[i, CLS_INDEX] = ends[i, CLS_INDEX] = 5.0
        starts[i, 20] = ends[i, 21] = 1.0
    with_null = postprocess_predictions(examples, evaluation, starts, ends, allow_null=True)
    without = postprocess_predictions(examples, evaluation, starts, ends)
    assert with_null["q1"] == ""
    assert without["q1"] != ""
    # A threshold above the null margin (10 - 2 = 8) lets the span win.
    lenient = postprocess_predictions(examples, evaluation, starts, ends, allow_null=True, null_threshold=9.0)
    assert lenient["q1"] != ""


def test_max_answer_len_and_order_constraints(tmp_path):
    examples = {k: v[:1] for k, v in toy_examples().items()}
    tokenizer = word_level_tokenizer([CONTEXT] + examples["question"], tmp_path / "tokenizer.json")
    evaluation = prepare_eval_features(examples, tokenizer, max_seq_len=128, doc_stride=32)
    offsets = evaluation["offset_mapping"][0]
    context_rows = [i for i, o in enumerate(offsets) if o is not None]
    starts = np.full((1, len(offsets)), -5.0)
    ends = np.full((1, len(offsets)), -5.0)
    first, last = context_rows[0], context_rows[-1]
    starts[0, last], ends[0, first] = 9.0, 9.0  # end before start: invalid
    starts[0, first + 1], ends[0, first + 2] = 3.0, 3.0
    prediction = postprocess_predictions(examples, evaluation, starts, ends)["q0"]
    assert prediction == "river town"
    starts = np.full((1, len(offsets)), -5.0)
    ends = np.full((1, len(offsets)), -5.0)
    starts[0, first], ends[0, last] = 8.0, 8.0  # the whole context, longer than 5 tokens
    ends[0, first + 2] = 3.0
    # Best valid: "The" (8) to "town" (3), three tokens.
    short = postprocess_predictions(examples, evaluation, starts, ends, max_answer_len=5)
    assert short["q0"] == "The river town"


@pytest.fixture(scope="module")
def xquad_multilingual(realdata):
    data = {lang: load_local("xquad", realdata, lang, "validation") for lang in ("de", "ru", "zh", "th")}
    texts = []
    for ds in data.values():
        texts += sorted(set(ds["context"])) + list(ds["question"])
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8000, special_tokens=XLMR_SPECIALS))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B:1 </s>:1", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return data, wrap(tok)


@pytest.mark.realdata
@pytest.mark.parametrize("lang", ["de", "ru", "zh", "th"])
def test_real_xquad_round_trip_with_trained_bpe(xquad_multilingual, lang):
    data, tokenizer = xquad_multilingual
    assert [tokenizer.convert_tokens_to_ids(t) for t in XLMR_SPECIALS[:4]] == [0, 1, 2, 3]
    examples = data[lang].select(range(0, 1190, 20))[:]
    evaluation = prepare_eval_features(examples, tokenizer, max_seq_len=128, doc_stride=48)
    assert len(evaluation["example_id"]) > 2 * len(examples["id"])
    checked, total = check_round_trip(examples, tokenizer, max_seq_len=128, doc_stride=48)
    # Most answers fall on token boundaries; those that do come back exactly.
    assert checked >= 0.7 * total
