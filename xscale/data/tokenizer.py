"""Tokenizers: XLM-R's pretrained one from the Hub or a folder, or a BPE tokenizer trained on the
data itself for from-scratch models on real data (in XLM-R's token order and special tokens)."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from xscale.data.hub import hub_unavailable, model_remedy
from xscale.errors import UserError
from xscale.tasks.registry import TaskInfo

TOKENIZER_VOCAB_SIZE = 8000
"""Vocabulary of the tokenizer trained on the fly for from-scratch models on real data."""
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}


def load_pretrained_tokenizer(source: str):
    """A Hub or local pretrained tokenizer; offline or unreachable Hub: a UserError in seconds."""
    from transformers import AutoTokenizer

    why = None if Path(source).expanduser().is_dir() else hub_unavailable()
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=bool(why))
    except (OSError, ValueError) as err:
        reason = why or (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"model {source}: cannot load its tokenizer ({reason}); "
                        f"{model_remedy(source, 'model.hub_id')}") from None


def text_strings(task: TaskInfo, ds: Dataset, budget: int) -> list[str]:
    """Distinct input texts of a dataset in row order, up to `budget` characters."""
    out: dict[str, None] = {}
    used = 0
    fields = [f for f in task.text_fields if f in ds.column_names]
    for batch in ds.select_columns(fields).iter(batch_size=256):
        for field in fields:
            for value in batch[field]:
                if isinstance(value, dict):
                    items = value.get("text", [])
                elif isinstance(value, list):
                    items = [" ".join(value)] if task.format == "tagging" else value
                else:
                    items = [value]
                for text in items:
                    if text and text not in out:
                        out[text] = None
                        used += len(text)
                        if used >= budget:
                            return list(out)
    return list(out)


def train_tokenizer(texts: list[str], vocab_size: int):
    """A BPE tokenizer in XLM-R's token order (`<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, `<mask>` last),
    Metaspace pre-tokenised (no spaces needed: Chinese and Thai work) and RoBERTa-style pairs."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=2, special_tokens=list(SPECIALS),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken("<mask>", special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False)
    return tok


def fast_tokenizer(tokenizer_json: str):
    """A `transformers` fast tokenizer over a `tokenizers` JSON, with XLM-R's special tokens."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer_json),
                                   model_input_names=["input_ids", "attention_mask"], **SPECIAL_TOKENS)
