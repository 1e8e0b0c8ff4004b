"""The shared contract of the task registry on real data: every entry with local files loads, encodes
(formats.encode), collates (formats.batches), trains one step (xscale.train.train) and scores
(formats.predict + formats.score) with a tiny random XLM-R-architecture model and the on-the-fly
tokenizer. Retrieval tasks take one MLM step on their own sentences and score the pooled encoder."""

import math

import pytest
import torch

from xscale import formats, models
from xscale.mlm import mask_tokens, mlm_loss
from xscale.tasks import metrics
from xscale.tasks.registry import TASKS, get_task
from xscale.train import TrainConfig, train

pytestmark = pytest.mark.realdata
ROWS = 8
MAX_SEQ_LEN = 128
FORMATS = {"classification", "pair_classification", "tagging", "span_qa", "multiple_choice", "retrieval"}


@pytest.fixture(scope="module")
def config(bench):
    tok = bench.tokenizer
    return models.scratch_config("xs", len(tok), MAX_SEQ_LEN, tok.pad_token_id)


def _eval_rows(bench, task):
    """Zero-shot rows for a target (a non-English language where there is one), dev rows otherwise."""
    if task.role != "target":
        return bench.dev(task), "en"
    langs = bench.languages(task)
    lang = next((lang for lang in langs if lang != "en"), langs[0])
    return bench.test(task, lang), lang


def _has_local_data(bench, name: str) -> bool:
    task = get_task(name)
    if task.format == "retrieval":
        return bool(bench.languages(task))
    return bench.source.has(task.train_task or name, "en", "train") or bench.source.has(
        task.train_task or name, "en", "validation")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_trains_one_step_and_scores_on_real_data(bench, config, name):
    task = get_task(name)
    if not _has_local_data(bench, name):
        pytest.skip(f"{name}: no local data in {bench.source.root} ({task.license_note})")
    tok = bench.tokenizer
    if task.format == "retrieval":
        scores = _retrieval(bench, config, task)
    else:
        rows = bench.train(task)
        rows = rows.select(range(min(ROWS, len(rows))))
        enc = formats.encode(task, rows, tok, MAX_SEQ_LEN, train=True)
        assert len(enc) >= len(rows) and "input_ids" in enc.column_names
        batch_iter = formats.batches(enc, 4, tok.pad_token_id, seed=0)
        first = next(formats.batches(enc, 4, tok.pad_token_id, seed=0))
        assert first["input_ids"].dtype == torch.long and first["input_ids"].shape == first["attention_mask"].shape
        model = models.build(config, task.format, num_labels=formats.num_labels(task, rows), seed=0)
        res = train(model, batch_iter, TrainConfig(steps=1, lr=1e-3))
        assert math.isfinite(res.final_loss)
        raw, lang = _eval_rows(bench, task)
        raw = raw.select(range(min(ROWS, len(raw))))
        enc = formats.encode(task, raw, tok, MAX_SEQ_LEN, train=False)
        out = formats.predict(model, enc, batch_size=8, pad_id=tok.pad_token_id)
        scores = formats.score(task, raw, enc, out, lang)
    assert task.metric in scores and set(task.metrics) <= set(scores)
    assert all(math.isfinite(v) and 0 <= v <= 100 for v in scores.values()), scores


def _retrieval(bench, config, task):
    tok = bench.tokenizer
    lang = bench.languages(task)[0]
    rows = bench.test(task, lang, split="test")
    model = models.build(config, "mlm", seed=0)
    fields = ("source_sentence", "target_sentence") if task.name == "tatoeba" else ("sentence",)
    sentences = [s for f in fields for s in rows[f][:ROWS]]
    ids = tok(sentences, truncation=True, max_length=32, padding="max_length", return_tensors="pt")["input_ids"]
    gen = torch.Generator().manual_seed(0)
    batch = mask_tokens(ids, tok, 0.15, gen)
    res = train(model, iter([batch]), TrainConfig(steps=1, lr=1e-3), loss_fn=mlm_loss)
    assert math.isfinite(res.final_loss)
    encoder = model.base_model
    if task.name == "tatoeba":
        src = formats.embed(encoder, tok, list(rows["source_sentence"]), MAX_SEQ_LEN)
        tgt = formats.embed(encoder, tok, list(rows["target_sentence"]), MAX_SEQ_LEN)
        return {"accuracy": metrics.tatoeba_accuracy(src, tgt)}
    out = {}
    threshold = 0.0
    for split in ("validation", "test"):
        part = bench.test(task, lang, split=split)
        cols = part.select_columns(["id", "lang", "sentence", "gold"]).to_dict()
        src_i = [i for i, l in enumerate(cols["lang"]) if l != "en"]
        en_i = [i for i, l in enumerate(cols["lang"]) if l == "en"]
        src = formats.embed(encoder, tok, [cols["sentence"][i] for i in src_i], MAX_SEQ_LEN)
        tgt = formats.embed(encoder, tok, [cols["sentence"][i] for i in en_i], MAX_SEQ_LEN)
        cands = metrics.bucc_mine([cols["id"][i] for i in src_i], src, [cols["id"][i] for i in en_i], tgt)
        gold = {(cols["id"][i], cols["gold"][i]) for i in src_i if cols["gold"][i]}
        if split == "validation":
            threshold = metrics.bucc_best_threshold(cands, gold)
        else:
            out = metrics.bucc_f1(cands, gold, threshold)
    return out


def test_the_contract_covers_every_task_format(bench):
    covered = {get_task(n).format for n in TASKS if _has_local_data(bench, n)}
    assert covered == FORMATS
