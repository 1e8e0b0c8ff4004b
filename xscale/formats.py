"""Task formats: turn Hub-schema rows into model inputs, batch them, and score model outputs.

One function per verb, dispatching on the task's format, so the synthetic and the real tasks share
every line: `encode` (datasets' batched map, cached by its fingerprint), `batches` (length-grouped,
dynamically padded), `predict` (inference mode), `score` (XTREME's metrics), `embed` (mean-pooled
sentence vectors for the retrieval tasks and the alignment probes).
"""

from __future__ import annotations

import random
from typing import Iterator

import numpy as np
import torch
from datasets import ClassLabel, Dataset, Sequence

from xscale.tasks import metrics, qa
from xscale.tasks.registry import TaskInfo
from xscale.train import autocast

IGNORE = -100
QA_DOC_STRIDE = 32


def label_names(task: TaskInfo, ds: Dataset) -> tuple[str, ...]:
    """The label set, read from the data's ClassLabel feature when it has one."""
    feat = ds.features.get(task.label_field) if task.label_field else None
    if isinstance(feat, Sequence):
        feat = feat.feature
    if isinstance(feat, ClassLabel):
        return tuple(feat.names)
    if isinstance(feat, list) and feat and isinstance(feat[0], ClassLabel):
        return tuple(feat[0].names)
    return tuple(task.labels)


def num_labels(task: TaskInfo, ds: Dataset) -> int:
    """Outputs per position of the task's head (start and end logits for extractive QA)."""
    return 2 if task.format == "span_qa" else max(1, len(label_names(task, ds)))


def _choices(ex: dict) -> tuple[str, list[str]]:
    """Context and candidate endings of a multiple-choice row in any of the Hub schemas."""
    if "endings" in ex:  # Rowan/hellaswag
        return ex["ctx"], list(ex["endings"])
    if "answer0" in ex:  # allenai/cosmos_qa
        return f"{ex['context']} {ex['question']}", [ex[f"answer{i}"] for i in range(4)]
    return ex["question"], list(ex["choices"]["text"])  # tau/commonsense_qa


def _mc_label(ex: dict) -> int:
    if "answerKey" in ex:
        return list(ex["choices"]["label"]).index(ex["answerKey"]) if ex["answerKey"] else IGNORE
    return int(ex["label"]) if str(ex["label"]).strip() not in ("", "-1") else IGNORE


def encode(task: TaskInfo, ds: Dataset, tokenizer, max_seq_len: int, train: bool) -> Dataset:
    """Model inputs for `ds`; rows keep their order (QA rows become one feature per context window)."""
    fmt = task.format
    if fmt == "span_qa":
        fn = qa.prepare_train_features if train else qa.prepare_eval_features
        return ds.map(
            fn,
            batched=True,
            remove_columns=ds.column_names,
            fn_kwargs={"tokenizer": tokenizer, "max_seq_len": max_seq_len, "doc_stride": QA_DOC_STRIDE},
        )
    if fmt in ("classification", "pair_classification"):
        fields = task.text_fields

        def fn(batch):
            enc = tokenizer(*[batch[f] for f in fields], truncation=True, max_length=max_seq_len)
            enc["labels"] = [int(x) for x in batch[task.label_field]]
            return enc

    elif fmt == "tagging":

        def fn(batch):
            enc = tokenizer(batch[task.text_fields[0]], is_split_into_words=True, truncation=True,
                            max_length=max_seq_len)
            labels = []
            for i, tags in enumerate(batch[task.label_field]):
                prev, row = None, []
                for w in enc.word_ids(i):
                    # XTREME labels the first sub-word of each word; the rest are ignored.
                    row.append(IGNORE if w is None or w == prev else int(tags[w]))
                    prev = w
                labels.append(row)
            enc["labels"] = labels
            return enc

    elif fmt == "multiple_choice":

        def fn(batch):
            rows = [dict(zip(batch, vals)) for vals in zip(*batch.values())]
            firsts, seconds = [], []
            for ex in rows:
                ctx, ends = _choices(ex)
                firsts += [ctx] * len(ends)
                seconds += ends
            enc = tokenizer(firsts, seconds, truncation=True, max_length=max_seq_len)
            out, k = {"input_ids": [], "attention_mask": [], "labels": []}, 0
            for ex in rows:
                n = len(_choices(ex)[1])
                out["input_ids"].append(enc["input_ids"][k:k + n])
                out["attention_mask"].append(enc["attention_mask"][k:k + n])
                out["labels"].append(_mc_label(ex))
                k += n
            return out

    else:
        raise ValueError(f"format {fmt!r} has no trainable inputs")
    return ds.map(fn, batched=True, remove_columns=ds.column_names)


_TENSOR_COLUMNS = ("input_ids", "attention_mask", "labels", "start_positions", "end_positions")


def _length(row: dict) -> int:
    ids = row["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


def collate(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of encoded rows to the longest one (2-D for multiple choice: choices x tokens)."""
    out = {}
    width = max(_length(r) for r in rows)
    for key in _TENSOR_COLUMNS:
        if key not in rows[0]:
            continue
        fill = {"input_ids": pad_id, "labels": IGNORE}.get(key, 0)
        vals = [r[key] for r in rows]
        if isinstance(vals[0], list) and vals[0] and isinstance(vals[0][0], list):
            n = max(len(v) for v in vals)
            arr = np.full((len(vals), n, width), fill, dtype=np.int64)
            for i, v in enumerate(vals):
                for j, seq in enumerate(v):
                    arr[i, j, : len(seq)] = seq
        elif isinstance(vals[0], list):
            arr = np.full((len(vals), width), fill, dtype=np.int64)
            for i, seq in enumerate(vals):
                arr[i, : len(seq)] = seq
        else:
            arr = np.asarray(vals, dtype=np.int64)
        out[key] = torch.from_numpy(arr)
    return out


def batches(encoded: Dataset, batch_size: int, pad_id: int, seed: int, shuffle: bool = True,
            endless: bool = True, group_by_length: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of `encoded`. Length grouping sorts inside shuffled windows of 50 batches, which keeps
    padding low without making batches predictable."""
    cols = [c for c in _TENSOR_COLUMNS if c in encoded.column_names]
    data = encoded.select_columns(cols).to_dict()
    rows = [dict(zip(cols, vals)) for vals in zip(*(data[c] for c in cols))]
    lengths = [_length(r) for r in rows]
    rng = random.Random(seed)
    epoch = 0
    while True:
        order = list(range(len(rows)))
        if shuffle:
            rng.shuffle(order)
        chunks = []
        window = batch_size * 50 if group_by_length else batch_size
        for w in range(0, len(order), window):
            part = order[w : w + window]
            if group_by_length:
                part.sort(key=lambda i: lengths[i])
            chunks += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
        if shuffle:
            rng.shuffle(chunks)
        for c in chunks:
            yield collate([rows[i] for i in c], pad_id)
        epoch += 1
        if not endless:
            return


def padding_stats(encoded: Dataset, batch_size: int, pad_id: int, group_by_length: bool = True) -> float:
    """Fraction of processed token slots that are padding, for one epoch of `batches`."""
    padded = real = 0
    for b in batches(encoded, batch_size, pad_id, seed=0, endless=False, group_by_length=group_by_length):
        padded += b["attention_mask"].numel()
        real += int(b["attention_mask"].sum())
    return 1 - real / max(1, padded)


INFERENCE_BATCH = 64
"""Rows per inference batch (`predict`, `embed`): on a 2-core CPU, batches of 32-128 ran equally fast per
example and 256 ran 20-50% slower (cache), and smaller batches hold fewer activations."""


@torch.inference_mode()
def predict(model: torch.nn.Module, encoded: Dataset, pad_id: int,
            batch_size: int = INFERENCE_BATCH, precision: str = "float32") -> dict[str, np.ndarray]:
    """Logits (float32) for every row of `encoded`, in row order (rows are length-sorted for speed, then
    restored); `precision` as in `train.autocast`."""
    model.eval()
    dev = next(model.parameters()).device
    cols = [c for c in ("input_ids", "attention_mask") if c in encoded.column_names]
    data = encoded.select_columns(cols).to_dict()
    rows = [dict(zip(cols, vals)) for vals in zip(*(data[c] for c in cols))]
    order = sorted(range(len(rows)), key=lambda i: _length(rows[i]))
    outs: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        batch = {k: v.to(dev) for k, v in collate([rows[i] for i in idx], pad_id).items()}
        with autocast(precision, dev):
            res = model(**batch)
        for key in ("logits", "start_logits", "end_logits"):
            t = getattr(res, key, None)
            if t is not None:
                outs.setdefault(key, []).extend(t.float().cpu().numpy())
    restored = {}
    for key, vals in outs.items():
        arr = [None] * len(rows)
        for pos, i in enumerate(order):
            arr[i] = vals[pos]
        restored[key] = arr
    return restored


def score(task: TaskInfo, raw: Dataset, encoded: Dataset, outputs: dict, lang: str) -> dict[str, float]:
    """The task's metrics (points, 0-100) for one language."""
    fmt = task.format
    if fmt in ("classification", "pair_classification", "multiple_choice"):
        preds = [int(np.argmax(x)) for x in outputs["logits"]]
        gold = encoded["labels"][:]  # a slice reads the column at once (iterating reads row by row)
        keep = [i for i, g in enumerate(gold) if g != IGNORE]
        out = {"accuracy": metrics.accuracy([preds[i] for i in keep], [gold[i] for i in keep])}
        if "f1" in task.metrics:  # QQP: F1 of the positive class, as GLUE reports it
            out["f1"] = metrics.binary_f1([preds[i] for i in keep], [gold[i] for i in keep])
        return out
    if fmt == "tagging":
        names = label_names(task, raw)
        pred_tags, gold_tags = [], []
        for logits, labels, tags in zip(outputs["logits"], encoded["labels"][:], raw[task.label_field][:]):
            best = logits.argmax(-1)
            pred = [names[best[j]] for j, lab in enumerate(labels) if lab != IGNORE]
            gold = [names[int(t)] for t in tags]
            # Words lost to truncation get label 0 ("O" for NER) so predicted and gold sequences align.
            pred += [names[0]] * (len(gold) - len(pred))
            pred_tags.append(pred)
            gold_tags.append(gold)
        out = {"f1": metrics.tagging_f1(pred_tags, gold_tags)}
        out["accuracy"] = metrics.tagging_accuracy(pred_tags, gold_tags)
        return out
    if fmt == "span_qa":
        start, end = _pad_rows(outputs.get("start_logits", [])), _pad_rows(outputs.get("end_logits", []))
        answers = raw["answers"][:]
        allow_null = any(len(a["text"]) == 0 for a in answers)
        preds = qa.postprocess_predictions(raw, encoded, start, end, allow_null=allow_null)
        refs = {ex_id: list(a["text"]) for ex_id, a in zip(raw["id"][:], answers)}
        return metrics.squad_scores(preds, refs, lang=lang, normalizer=metrics.QA_NORMALIZER.get(task.name, "mlqa"))
    raise ValueError(f"format {fmt!r} is not scored from logits")


def _pad_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Stack per-window logits of different lengths; padding never wins an argmax."""
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), -1e9, dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def embed(encoder: torch.nn.Module, tokenizer, sentences: list[str], max_seq_len: int, layer: int = -1,
          batch_size: int = INFERENCE_BATCH, precision: str = "float32") -> np.ndarray:
    """Mean-pooled hidden states of `layer` (over real tokens, specials included as XTREME does), as
    float32; `precision` as in `train.autocast`."""
    return embed_layers(encoder, tokenizer, sentences, max_seq_len, (layer,), batch_size, precision)[layer]


@torch.inference_mode()
def embed_layers(encoder: torch.nn.Module, tokenizer, sentences: list[str], max_seq_len: int,
                 layers: tuple[int, ...], batch_size: int = INFERENCE_BATCH,
                 precision: str = "float32") -> dict[int, np.ndarray]:
    """`embed` for several layers from one forward pass: {layer: sentence vectors}."""
    encoder.eval()
    dev = next(encoder.parameters()).device
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = {layer: np.zeros((len(sentences), encoder.config.hidden_size), dtype=np.float32) for layer in layers}
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        enc = tokenizer([sentences[i] for i in idx], truncation=True, max_length=max_seq_len, padding=True,
                        return_tensors="pt")
        enc = {k: v.to(dev) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with autocast(precision, dev):
            hidden_states = encoder(**enc, output_hidden_states=True).hidden_states
        mask = enc["attention_mask"].unsqueeze(-1)
        for layer in layers:
            hidden = hidden_states[layer]
            hidden, m = hidden.float(), mask.float()  # pool in float32 whatever the forward ran in
            out[layer][idx] = ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
    return out
