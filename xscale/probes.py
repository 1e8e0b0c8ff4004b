"""Cross-lingual alignment probes on parallel sentences (each language paired with English).

- retrieval: accuracy@1 of finding a sentence's English translation by cosine similarity, raw and
  mean-centred (each language's mean vector subtracted first; plain mean-pooled vectors of tiny models
  retrieve at a few percent while centring retrieves 30-40%).
- cka: linear centred kernel alignment (Kornblith et al. 2019) between the two languages' sentence
  representations, 0 (unrelated) to 1 (identical up to rotation and scale). Its plug-in estimate is
  biased upwards for finite samples, the more so the wider the representation.
- cka_debiased: CKA from the unbiased HSIC estimator (Song et al. 2012; Nguyen et al. 2021), whose
  expectation is about 0 for unrelated representations at any width, so sizes compare fairly.

Each probe reads the mean-pooled hidden states of the last layer and of the middle one (`_mid`).
"""

from __future__ import annotations

import numpy as np

from xscale.formats import embed_layers
from xscale.tasks.metrics import tatoeba_accuracy

LAYER_SUFFIX = {"last": "", "middle": "_mid"}


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two paired representation matrices (rows are the same sentences)."""
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    cross = np.linalg.norm(y.T @ x, "fro") ** 2
    denom = np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro")
    return float(cross / denom) if denom > 0 else 0.0


def _unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """The unbiased HSIC estimator of two Gram matrices (Song et al. 2012, eq. 5), up to a constant
    factor that cancels in CKA."""
    n = k.shape[0]
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    k_sum, l_sum = k.sum(), l.sum()
    return float(np.sum(k * l) + k_sum * l_sum / ((n - 1) * (n - 2)) - 2.0 * (k.sum(0) @ l.sum(0)) / (n - 2))


def debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA with the unbiased HSIC estimator in numerator and denominator (needs n >= 4)."""
    if x.shape[0] < 4:
        return float("nan")
    k = x.astype(np.float64) @ x.T.astype(np.float64)
    l = y.astype(np.float64) @ y.T.astype(np.float64)
    xy, xx, yy = _unbiased_hsic(k, l), _unbiased_hsic(k, k), _unbiased_hsic(l, l)
    return float(xy / np.sqrt(xx * yy)) if xx > 0 and yy > 0 else 0.0


def middle_layer(num_hidden_layers: int) -> int:
    """Index into `hidden_states` (embeddings at 0) of the middle transformer layer."""
    return (num_hidden_layers + 1) // 2


def alignment(encoder, tokenizer, pairs: dict[str, tuple[list[str], list[str]]], max_seq_len: int,
              kinds: tuple[str, ...] = ("retrieval", "cka", "cka_debiased"),
              layers: tuple[str, ...] = ("last",), average_excludes: tuple[str, ...] = (),
              precision: str = "float32") -> dict[str, float]:
    """Probe `encoder` on `pairs` ({lang: (sentences, their English translations)}).

    Every distinct sentence is encoded once (the English side is usually the same sentences for every
    language), all requested layers in the same pass, under `precision` (as in `train.autocast`).
    Returns `{probe}/{lang}/{metric}` and `{probe}/avg/{metric}`, the mean over the languages not in
    `average_excludes`.
    """
    index = {"last": -1, "middle": middle_layer(encoder.config.num_hidden_layers)}
    wanted = tuple(index[name] for name in layers)
    texts = list(dict.fromkeys(t for src, eng in pairs.values() for t in (*src, *eng)))
    table = embed_layers(encoder, tokenizer, texts, max_seq_len, wanted, precision=precision)
    row = {t: i for i, t in enumerate(texts)}
    out: dict[str, float] = {}
    for lang, (src, eng) in sorted(pairs.items()):
        for name, layer in zip(layers, wanted):
            suffix = LAYER_SUFFIX[name]
            xs = table[layer][[row[t] for t in src]]
            ys = table[layer][[row[t] for t in eng]]
            if "retrieval" in kinds:
                out[f"retrieval{suffix}/{lang}/accuracy_raw"] = tatoeba_accuracy(xs, ys)
                out[f"retrieval{suffix}/{lang}/accuracy"] = tatoeba_accuracy(xs - xs.mean(0), ys - ys.mean(0))
            if "cka" in kinds:
                out[f"cka{suffix}/{lang}/cka"] = linear_cka(xs, ys)
            if "cka_debiased" in kinds:
                out[f"cka_debiased{suffix}/{lang}/cka"] = debiased_cka(xs, ys)
    out.update(average_over_languages(out, average_excludes))
    return out


def average_over_languages(metrics: dict[str, float], excludes: tuple[str, ...] = ()) -> dict[str, float]:
    """`{probe}/avg/{metric}` for every `{probe}/{lang}/{metric}`, over the languages not in `excludes`."""
    groups: dict[str, list[float]] = {}
    for k, v in metrics.items():
        probe, lang, metric = k.split("/")
        if lang != "avg" and lang not in excludes:
            groups.setdefault(f"{probe}/avg/{metric}", []).append(v)
    return {k: float(np.mean(v)) for k, v in groups.items()}
