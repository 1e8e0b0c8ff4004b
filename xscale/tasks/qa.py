"""Extractive QA features: question/context windows with answer token labels, and span decoding.

Long contexts are cut into windows; `doc_stride` is the number of context tokens by which one
window's start advances over the previous one (BERT's and XTREME's meaning; the tokenizer's own
`stride` argument is the overlap, derived here per question length). Features are left unpadded
for the collator to pad. Works with any `PreTrainedTokenizerFast` whose offsets are character
offsets into the context (word-level, BPE or unigram).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

# Where the start/end labels point when the answer is not inside a window (or there is none):
# the first token, `<s>`/`[CLS]`, as in SQuAD v2.0 training.
CLS_INDEX = 0
# XTREME's `run_squad.py` default (`max_query_length`), so a long question cannot crowd out the context.
MAX_QUERY_LEN = 64
_NOT_MODEL_INPUTS = ("offset_mapping", "overflow_to_sample_mapping")


def _questions(examples: dict[str, list], tokenizer, max_query_len: int) -> list[str]:
    """Questions without leading whitespace, cut after `max_query_len` tokens."""
    # A few SQuAD questions start with long runs of spaces that would only eat the token budget.
    questions = [q.lstrip() for q in examples["question"]]
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    for i, offsets in enumerate(encoded["offset_mapping"]):
        if len(offsets) > max_query_len:
            questions[i] = questions[i][: offsets[max_query_len - 1][1]]
    return questions


def _windows(
    examples: dict[str, list], tokenizer, max_seq_len: int, doc_stride: int, max_query_len: int
) -> list[tuple[int, dict, list, list]]:
    """(example index, model inputs, offsets, sequence ids) per window, in example order."""
    if doc_stride < 1:
        raise ValueError(f"doc_stride must be at least 1, got {doc_stride}")
    questions = _questions(examples, tokenizer, max_query_len)
    contexts = examples["context"]
    question_lens = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    # One tokenizer call per overlap value, since the overlap depends on the question length.
    groups: dict[int, list[int]] = defaultdict(list)
    for i, question_len in enumerate(question_lens):
        context_budget = max_seq_len - question_len - specials
        if context_budget < 1:
            raise ValueError(
                f"max_seq_len {max_seq_len} leaves no room for the context after a "
                f"{question_len}-token question and {specials} special tokens"
            )
        groups[max(0, context_budget - doc_stride)].append(i)
    windows = []
    for overlap, members in groups.items():
        encoded = tokenizer(
            [questions[i] for i in members],
            [contexts[i] for i in members],
            truncation="only_second",
            max_length=max_seq_len,
            stride=overlap,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        inputs = [k for k in encoded.keys() if k not in _NOT_MODEL_INPUTS]
        for j, member in enumerate(encoded["overflow_to_sample_mapping"]):
            windows.append(
                (
                    members[member],
                    j,
                    {k: encoded[k][j] for k in inputs},
                    encoded["offset_mapping"][j],
                    encoded.sequence_ids(j),
                )
            )
    windows.sort(key=lambda w: (w[0], w[1]))
    return [(example, inputs, offsets, seq_ids) for example, _, inputs, offsets, seq_ids in windows]


def _answer_tokens(offsets: list, seq_ids: list, start_char: int, end_char: int) -> tuple[int, int]:
    """Token span covering characters [start_char, end_char) of the context, or CLS when outside."""
    if 1 not in seq_ids:
        return CLS_INDEX, CLS_INDEX
    first = seq_ids.index(1)
    last = len(seq_ids) - 1 - seq_ids[::-1].index(1)
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return CLS_INDEX, CLS_INDEX
    # The last token starting at or before the answer, then the first one from there that
    # reaches its end; scanning forward keeps end >= start even where tokens share offsets
    # (a lone Metaspace `▁` and the character after it).
    start = first
    while start < last and offsets[start + 1][0] <= start_char:
        start += 1
    end = start
    while end < last and offsets[end][1] < end_char:
        end += 1
    return start, end


def prepare_train_features(
    examples: dict[str, list],
    tokenizer,
    max_seq_len: int,
    doc_stride: int,
    max_query_len: int = MAX_QUERY_LEN,
) -> dict[str, list]:
    """Training windows with `start_positions`/`end_positions` of the first gold answer.

    For `Dataset.map(batched=True, remove_columns=dataset.column_names)`: the question comes
    first and only the context is truncated. A window that does not hold the whole answer, and
    any window of an unanswerable question, points both labels at CLS_INDEX.
    """
    features: dict[str, list] = defaultdict(list)
    for example, inputs, offsets, seq_ids in _windows(
        examples, tokenizer, max_seq_len, doc_stride, max_query_len
    ):
        for key, value in inputs.items():
            features[key].append(value)
        answers = examples["answers"][example]
        if answers["text"]:
            start_char = answers["answer_start"][0]
            span = _answer_tokens(offsets, seq_ids, start_char, start_char + len(answers["text"][0]))
        else:
            span = (CLS_INDEX, CLS_INDEX)
        features["start_positions"].append(span[0])
        features["end_positions"].append(span[1])
    return dict(features)


def prepare_eval_features(
    examples: dict[str, list],
    tokenizer,
    max_seq_len: int,
    doc_stride: int,
    max_query_len: int = MAX_QUERY_LEN,
) -> dict[str, list]:
    """Evaluation windows keeping `example_id` and an `offset_mapping` that is None off the context."""
    features: dict[str, list] = defaultdict(list)
    for example, inputs, offsets, seq_ids in _windows(
        examples, tokenizer, max_seq_len, doc_stride, max_query_len
    ):
        for key, value in inputs.items():
            features[key].append(value)
        features["example_id"].append(examples["id"][example])
        features["offset_mapping"].append(
            [list(o) if s == 1 else None for o, s in zip(offsets, seq_ids)]
        )
    return dict(features)


def postprocess_predictions(
    examples,
    features,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best: int = 20,
    max_answer_len: int = 30,
    allow_null: bool = False,
    null_threshold: float = 0.0,
) -> dict[str, str]:
    """The best answer text per example id, searched over all windows of the example.

    A span is scored by start logit + end logit over the `n_best` top starts and ends of each
    window, must lie in the context, end at or after its start and be at most `max_answer_len`
    tokens long. With `allow_null` (SQuAD v2.0) the answer is "" when the null score (the
    lowest CLS start + end over the windows) exceeds the best span score by more than
    `null_threshold`; without it, "" only when no span is valid. Rows of the logit arrays may be
    padded beyond a window's length.
    """
    start_logits = np.asarray(start_logits, dtype=np.float32)
    end_logits = np.asarray(end_logits, dtype=np.float32)
    example_ids = features["example_id"][:]
    if len(start_logits) != len(example_ids) or len(end_logits) != len(example_ids):
        raise ValueError(f"{len(start_logits)}/{len(end_logits)} logit rows for {len(example_ids)} features")
    windows_of: dict[str, list[int]] = defaultdict(list)
    for i, example_id in enumerate(example_ids):
        windows_of[example_id].append(i)
    # One pass over the column; indexing a Dataset column row by row re-reads Arrow each time.
    all_offsets = features["offset_mapping"][:]
    predictions: dict[str, str] = {}
    for example_id, context in zip(examples["id"][:], examples["context"][:]):
        best_score, best_text = -np.inf, ""
        null_score = np.inf
        for i in windows_of.get(example_id, []):
            offsets = all_offsets[i]
            starts, ends = start_logits[i][: len(offsets)], end_logits[i][: len(offsets)]
            null_score = min(null_score, float(starts[CLS_INDEX] + ends[CLS_INDEX]))
            top_starts = np.argsort(-starts, kind="stable")[:n_best]
            top_ends = np.argsort(-ends, kind="stable")[:n_best]
            for s in top_starts:
                if offsets[s] is None:
                    continue
                for e in top_ends:
                    if offsets[e] is None or e < s or e - s + 1 > max_answer_len:
                        continue
                    score = float(starts[s] + ends[e])
                    if score > best_score:
                        best_score = score
                        best_text = context[offsets[s][0] : offsets[e][1]]
        if allow_null and (best_score == -np.inf or null_score - best_score > null_threshold):
            best_text = ""
        # Metaspace and byte-level tokens may carry the preceding space in their offsets.
        predictions[example_id] = best_text.strip()
    return predictions
