"""The benchmark's word-level tokenizer (a `tokenizers` WordLevel model in XLM-R's special-token order).

The vocabulary is every word of every language's lexicon plus the anchors, so no realised text is ever
`<unk>`. Ids: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then the words (sorted, for determinism), then
`<mask>` last; pairs are encoded RoBERTa-style as `<s> A </s> </s> B </s>`.
"""

from __future__ import annotations

from pathlib import Path

from xscale.synth.languages import Lexicon

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}
"""Keyword arguments that make `PreTrainedTokenizerFast` know the special tokens."""
_HEAD = ("<s>", "<pad>", "</s>", "<unk>")


def vocabulary(lexicons: dict[str, Lexicon]) -> list[str]:
    """Every token id's string, in id order."""
    words = sorted({form for lexicon in lexicons.values() for form in lexicon.forms if form is not None})
    return list(_HEAD) + words + ["<mask>"]


def build_tokenizer(lexicons: dict[str, Lexicon]):
    """A `tokenizers.Tokenizer` over the lexicons' words."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate(vocabulary(lexicons))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]))
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in (*_HEAD, "<mask>")])
    return tokenizer


def save_tokenizer(lexicons: dict[str, Lexicon], path: Path) -> int:
    """Write `tokenizer.json`; returns the vocabulary size."""
    tokenizer = build_tokenizer(lexicons)
    path.write_text(tokenizer.to_str(pretty=True), encoding="utf-8")
    return tokenizer.get_vocab_size()


def load_tokenizer(path: str | Path):
    """A `transformers.PreTrainedTokenizerFast` for `tokenizer.json` with the special tokens set."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(path), **SPECIAL_TOKENS)
