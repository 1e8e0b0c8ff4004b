"""Synthetic trials that follow the tracking contract, with known scaling behaviour."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

SIZES = {"xs": 1e6, "s": 4e6, "m": 1.6e7, "l": 6.4e7}
LANG_OFFSETS = {"clone": 4.0, "near": 1.0, "vso": -1.0, "sov": -2.0, "inv": -4.0}
TASKS = {"nli": "accuracy", "ner": "f1"}
DATA_SLOPE = 3.0
"""Zero-shot points per decade of intermediate examples."""
PRETRAIN_SLOPE = 1.0
SIZE_SLOPE = 5.0
RETENTION_SLOPE = 0.1
"""Retention ratio per decade of non-embedding parameters."""


def synthetic_trial(
    size="s",
    fraction=1.0,
    ckpt=1.0,
    seed=0,
    task="mnli",
    lr=1e-4,
    dev_bonus=0.0,
    zs_bonus=0.0,
    noise=0.3,
    data_slope=DATA_SLOPE,
):
    """(params, metrics) of one finished trial; scores follow known log-linear laws plus seed noise."""
    rng = np.random.default_rng(zlib.crc32(repr((size, fraction, ckpt, seed, task, lr)).encode()))
    n = SIZES[size]
    examples = fraction * 1e5 if task != "none" else 0.0
    tokens = ckpt * 1e8
    seed_shift = [0.4, -0.3, -0.1, 0.2][seed % 4]
    base = 40 + SIZE_SLOPE * math.log10(n / 1e6) + PRETRAIN_SLOPE * math.log10(tokens / 1e6) + seed_shift + zs_bonus
    if examples > 0:
        base += data_slope * math.log10(examples / 1e3)
    metrics = {}
    for t, m in TASKS.items():
        langs = {lang: base + off + rng.normal(0, noise) for lang, off in LANG_OFFSETS.items()}
        for lang, v in langs.items():
            metrics[f"target/{t}/{lang}/{m}"] = v
        metrics[f"target/{t}/avg/{m}"] = float(np.mean(list(langs.values())))
        metrics[f"target/{t}/en/{m}"] = base + 15
        metrics[f"dev/{t}/en/{m}"] = base + 16 + dev_bonus
        metrics[f"learned/target/{t}"] = 1.0  # what the pipeline logs beside the scores
    metrics["dev/score"] = base + 16 + dev_bonus
    metrics["xtreme/score"] = base
    retention = 0.5 + RETENTION_SLOPE * math.log10(n / 1e6) + rng.normal(0, 0.01) + 0.01 * seed_shift
    for probe, metric, pre in (("retrieval", "accuracy", 30 + 10 * math.log10(n / 1e6)), ("cka", "cka", 0.6)):
        after = {"pretrain": pre, "intermediate": pre * retention, "target": pre * retention * 0.9}
        for stage, v in after.items():
            metrics[f"align/{stage}/{probe}/avg/{metric}"] = v
            for lang in LANG_OFFSETS:
                metrics[f"align/{stage}/{probe}/{lang}/{metric}"] = v
        metrics[f"align/retention/{probe}/avg"] = retention
        metrics[f"align/retention_target/{probe}/avg"] = retention * 0.9
    metrics.update(
        {
            "scale/params": n * 1.5,
            "scale/non_embedding_params": n,
            "scale/pretrain_tokens": tokens,
            "scale/intermediate_examples": examples,
            "scale/train_flops": 6 * n * (tokens + examples),
            "intermediate/mnli/en/accuracy": 70.0,
        }
    )
    params = {
        "model.size": size,
        "intermediate.fraction": str(fraction),
        "pretrain.checkpoint_fraction": str(ckpt),
        "intermediate.task": task,
        "seed": str(seed),
        "optim.lr": str(lr),
        "optim.warmup_fraction": "0.1",
    }
    return params, metrics


def cell_id(params: dict) -> str:
    keys = ("model.size", "intermediate.fraction", "pretrain.checkpoint_fraction", "intermediate.task", "seed")
    return "-".join(f"{k}={params[k]}" for k in keys)


@pytest.fixture(scope="session")
def trial():
    """synthetic_trial, as a fixture: test modules do not import conftest (its name is not unique)."""
    return synthetic_trial


def child_dict(params: dict, metrics: dict, trial_id: str, status="FINISHED", reason="", parent="p0", start=0) -> dict:
    """A child run in the plain-dict shape the tracking queries return."""
    tags = {
        "mlflow.parentRunId": parent,
        "xscale.role": "trial",
        "xscale.trial_id": trial_id,
        "xscale.cell": cell_id(params),
    }
    if reason:
        tags["xscale.failure_reason"] = reason
    return {
        "run_id": f"run-{trial_id}-{start}",
        "experiment_id": "1",
        "experiment_name": "exp",
        "status": status,
        "start_time": start,
        "tags": tags,
        "params": params,
        "metrics": metrics,
    }


@pytest.fixture(scope="session")
def child():
    """child_dict, as a fixture."""
    return child_dict


@pytest.fixture(scope="session")
def cell_of():
    """cell_id, as a fixture."""
    return cell_id


@pytest.fixture(scope="session")
def truth():
    """The slopes the synthetic trials were generated with."""
    return {"data": DATA_SLOPE, "pretrain": PRETRAIN_SLOPE, "size": SIZE_SLOPE, "retention": RETENTION_SLOPE}


@pytest.fixture(scope="session")
def grid_children():
    """3 sizes x 4 intermediate fractions x 3 checkpoint fractions x 3 seeds, all finished."""
    children = []
    for size in ("xs", "s", "m"):
        for fraction in (0.01, 0.1, 0.3, 1.0):
            for ckpt in (0.1, 0.3, 1.0):
                for seed in range(3):
                    params, metrics = synthetic_trial(size, fraction, ckpt, seed)
                    children.append(child_dict(params, metrics, f"t{len(children):03d}"))
    return children
