"""Masked-language-model data and loss: the corpus packed into sequences, BERT masking, and the
warmup-stable-decay plan of a pretraining run with one cooled-down branch per checkpoint fraction."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator

import torch


def token_stream(tokenizer, corpus) -> Iterator[int]:
    """The corpus (a Dataset with a `text` column) as one stream of token ids, documents separated by
    </s>, in corpus order."""
    for start in range(0, len(corpus), 512):
        for ids in tokenizer(corpus[start : start + 512]["text"], add_special_tokens=False)["input_ids"]:
            yield from ids
            yield tokenizer.sep_token_id


def _pack(stream: Iterator[int], n_seqs: int, seq_len: int, tok, tokens: int) -> torch.Tensor:
    """The next `n_seqs` sequences of `seq_len` tokens (<s> body </s>) from the token stream."""
    body = seq_len - 2
    seqs = []
    for _ in range(n_seqs):
        chunk = list(itertools.islice(stream, body))
        if len(chunk) < body:
            raise ValueError(f"pretrain.pretrain_tokens={tokens} exceeds the corpus; "
                             "lower it or raise the benchmark's corpus_tokens")
        seqs.append([tok.cls_token_id, *chunk, tok.sep_token_id])
    return torch.tensor(seqs, dtype=torch.long)


def short_batch_size(p) -> int:
    """Sequences per step of the short-sequence phase: as many tokens per step as the main phase."""
    return max(1, round(p.batch_size * (p.max_seq_len - 2) / (p.short_seq_len - 2)))


def mlm_batches(tokenizer, corpus, p, seq_len: int, batch_size: int, tokens: int, seed: int,
                short_steps: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Masked batches over the corpus prefix of `tokens` tokens, packed into `seq_len` sequences
    (`p` is the spec's `pretrain` section: masking rate and the short-sequence phase).

    With `short_steps`, the first steps read the start of that prefix packed into
    `p.short_seq_len` sequences (as many tokens per step), the rest of it follows at `seq_len`."""
    stream = token_stream(tokenizer, corpus)
    gen = torch.Generator().manual_seed(seed)
    if short_steps:
        short_batch = short_batch_size(p)
        data = _pack(stream, short_steps * short_batch, p.short_seq_len, tokenizer, tokens)
        for s in range(0, len(data), short_batch):
            yield mask_tokens(data[s : s + short_batch], tokenizer, p.mask_prob, gen)
        tokens -= short_steps * short_batch * (p.short_seq_len - 2)
    data = _pack(stream, max(batch_size, math.ceil(tokens / (seq_len - 2))), seq_len, tokenizer, tokens)
    while True:
        for s in range(0, len(data) - batch_size + 1, batch_size):
            yield mask_tokens(data[s : s + batch_size], tokenizer, p.mask_prob, gen)


def mask_tokens(ids: torch.Tensor, tok, prob: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """BERT masking: `prob` of the non-special tokens become targets; 80% <mask>, 10% random, 10% kept."""
    labels = ids.clone()
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (ids == tok.pad_token_id)
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~special
    labels[~chosen] = -100
    ids = ids.clone()
    roll = torch.rand(ids.shape, generator=gen)
    ids[chosen & (roll < 0.8)] = tok.mask_token_id
    rand = chosen & (roll >= 0.8) & (roll < 0.9)
    ids[rand] = torch.randint(len(tok), ids.shape, generator=gen)[rand]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def mlm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """MLM loss computing vocabulary logits only at masked positions (a ~2x saving for tiny models
    whose output layer is as large as their body)."""
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    where = batch["labels"] != -100
    logits = model.lm_head(hidden[where])
    return torch.nn.functional.cross_entropy(logits.float(), batch["labels"][where])


# ------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class Plan:
    """Step counts of one pretraining run (`p`: the spec's `pretrain` section).

    A full run has `steps` steps of `batch_size` sequences of `max_seq_len` tokens (the first
    `short_steps` at `short_seq_len`, as many tokens per step). With the warmup-stable-decay schedule
    the trunk warms up and then keeps its peak rate; checkpoint fraction f is a branch that leaves the
    trunk at `branch(f)[0]` and decays linearly to zero at `branch(f)[1]` = f of the full run's steps,
    so every checkpoint is a finished model trained on f of the tokens."""

    steps: int
    warmup_steps: int
    short_steps: int
    decay_fraction: float
    tokens_per_step: int

    @classmethod
    def of(cls, p) -> Plan:
        tokens_per_step = p.batch_size * (p.max_seq_len - 2)
        steps = max(1, math.ceil(p.pretrain_tokens / tokens_per_step))
        short = round(p.short_seq_fraction * steps) if p.short_seq_len else 0
        return cls(steps, max(1, int(p.warmup_fraction * steps)), short, p.decay_fraction, tokens_per_step)

    def branch(self, fraction: float) -> tuple[int, int]:
        """(first step of the cooldown, last step) of checkpoint `fraction`."""
        end = max(1, round(fraction * self.steps))
        return end - round(self.decay_fraction * end), end
