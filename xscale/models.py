"""Encoders and task heads: the from-scratch XLM-R size ladder, Hub encoders, and parameter counts.

Stages hand each other only the encoder (`model.base_model`) weights; every stage puts a fresh head
of its task's format on top, as STILTs does.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import torch
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PretrainedConfig,
    XLMRobertaConfig,
)

from xscale.spec import HUB_SIZES, MODEL_SIZES


@dataclass(frozen=True)
class Size:
    """One rung of the from-scratch ladder (XLM-R architecture, shrunk)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


# Non-embedding parameters grow ~30x from xs to l (about 0.15M to 4.7M), so a sweep over the
# ladder covers 1.5 decades of model size while the largest still trains on a CPU core.
SIZES: dict[str, Size] = {
    "xs": Size(hidden_size=64, num_hidden_layers=3, num_attention_heads=2, intermediate_size=256),
    "s": Size(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, intermediate_size=512),
    "m": Size(hidden_size=192, num_hidden_layers=4, num_attention_heads=4, intermediate_size=768),
    "l": Size(hidden_size=256, num_hidden_layers=6, num_attention_heads=4, intermediate_size=1024),
}
assert tuple(SIZES) == MODEL_SIZES, "spec.MODEL_SIZES must name the ladder's keys"

# Task formats (shared with xscale.tasks) mapped to the Auto class that carries their head.
HEAD_CLASSES = {
    "mlm": AutoModelForMaskedLM,
    "classification": AutoModelForSequenceClassification,
    "pair_classification": AutoModelForSequenceClassification,
    "tagging": AutoModelForTokenClassification,
    "span_qa": AutoModelForQuestionAnswering,
    "multiple_choice": AutoModelForMultipleChoice,
}


def scratch_config(size: str, vocab_size: int, max_seq_len: int, pad_token_id: int = 1) -> XLMRobertaConfig:
    """XLM-R config of a ladder size. Small init (std 0.02) and tied embeddings matter: with PyTorch's
    N(0,1) embedding init tiny models never aligned languages in pilot runs."""
    s = SIZES[size]
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=s.hidden_size,
        num_hidden_layers=s.num_hidden_layers,
        num_attention_heads=s.num_attention_heads,
        intermediate_size=s.intermediate_size,
        # XLM-R numbers positions from padding_idx + 1.
        max_position_embeddings=max_seq_len + pad_token_id + 1,
        pad_token_id=pad_token_id,
        bos_token_id=0,
        eos_token_id=2,
        type_vocab_size=1,
        initializer_range=0.02,
        tie_word_embeddings=True,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


def hub_source(size: str, hub_id: str | None) -> str:
    """The Hub id or local path of a pretrained encoder named by a spec."""
    return hub_id or HUB_SIZES[size]


def hub_config(source: str, revision: str | None = None) -> PretrainedConfig:
    return AutoConfig.from_pretrained(source, revision=revision)


def build(config: PretrainedConfig, fmt: str, *, num_labels: int = 2, encoder_state: dict | None = None,
          seed: int = 0) -> torch.nn.Module:
    """A model of `fmt`'s head on the encoder `config`; loads `encoder_state` into the encoder if given."""
    torch.manual_seed(seed)
    cls = HEAD_CLASSES[fmt]
    fields = {k: v for k, v in config.to_dict().items() if k not in ("id2label", "label2id")}
    cfg = config.__class__.from_dict({**fields, "num_labels": num_labels})
    model = cls.from_config(cfg)
    if encoder_state is not None:
        missing, unexpected = model.base_model.load_state_dict(encoder_state, strict=False)
        # A pooler is the only part an encoder may lack or bring along (MLM models have none, a
        # multiple-choice intermediate model trains one); anything else is a bug.
        bad = [k for k in (*missing, *unexpected) if not k.startswith("pooler.")]
        if bad:
            raise ValueError(f"encoder weights do not fit the model: {bad[:5]}")
    return model


def freeze_embeddings(model: torch.nn.Module) -> None:
    """Stop gradients into the encoder's embedding layer (word, position and type embeddings)."""
    for p in model.base_model.embeddings.parameters():
        p.requires_grad_(False)


def from_pretrained(source: str, fmt: str, num_labels: int = 2, revision: str | None = None) -> torch.nn.Module:
    """A Hub/local pretrained encoder with a fresh `fmt` head."""
    return HEAD_CLASSES[fmt].from_pretrained(source, num_labels=num_labels, revision=revision)


def encoder_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's weights, contiguous and untied, ready for safetensors."""
    return {k: v.detach().contiguous().clone() for k, v in model.base_model.state_dict().items()}


def count_params(config: PretrainedConfig) -> dict[str, int]:
    """Parameter counts of the bare encoder, computed from a materialised model (never typed by hand)."""
    return dict(_count_params(config.to_json_string()))


@functools.lru_cache(maxsize=64)
def _count_params(config_json: str) -> tuple[tuple[str, int], ...]:
    config = AutoConfig.for_model(**json.loads(config_json))
    with torch.device("meta"):
        model = AutoModelForMaskedLM.from_config(config).base_model
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    return (("params", total), ("non_embedding_params", total - embedding))
