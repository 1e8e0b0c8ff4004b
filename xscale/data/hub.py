"""Datasets from the Hugging Face Hub, in the registry's schema, with fast and clear failures offline.

HF_HUB_OFFLINE is read by huggingface_hub and datasets when they are imported, so the environment is
checked again at call time, and a quick connection probe stands in for the libraries' own retries
(about 25 s) when the machine has no route to the Hub. Offline or without a route, the pre-flight
(`HubDatasets.missing`, `missing_models`) names every dataset and model a sweep needs that is not
cached, with the local files or folder that would replace each.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import datasets
from datasets import Dataset

from xscale.data.local import LOCAL_LAYOUT, LocalFiles, unknown_language
from xscale.errors import UserError
from xscale.tasks.readers import FEATURES, anli_plus
from xscale.tasks.registry import LANGUAGE_NAMES, TATOEBA_CODES, TaskInfo, get_task

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_PROBE_TIMEOUT_S = 3.0
_SNLI_HUB = "stanfordnlp/snli"
# Hub split names that differ from the plain train/validation/test.
_HUB_SPLITS = {
    "mnli": {"validation": "validation_matched", "test": "test_matched"},
    "xquad": {"test": "validation"},
    "tatoeba": {"test": "validation"},
}


def _offline_requested() -> bool:
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"} for v in _OFFLINE_VARS)


def offline_mode() -> bool:
    """Whether the Hub libraries run offline (HF_HUB_OFFLINE set when they were imported): then
    only cached datasets load, and `load_hub` fails fast on the rest."""
    return _libraries_offline()


def _libraries_offline() -> bool:
    import huggingface_hub.constants

    return bool(datasets.config.HF_HUB_OFFLINE or huggingface_hub.constants.HF_HUB_OFFLINE)


def _hub_reachable(endpoint: str, timeout_s: float = _PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the endpoint opens within the timeout (DNS included)."""
    url = urllib.parse.urlsplit(endpoint)
    if url.hostname is None:
        return False
    port = url.port or (443 if url.scheme == "https" else 80)
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((url.hostname, port), timeout=timeout_s):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    # A thread bounds name resolution too, which socket timeouts do not cover.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s + 0.5)
    return bool(outcome and outcome[0])


def hub_unavailable() -> str | None:
    """Why the Hub cannot be used for a dataset that is not cached yet, or None when it can.

    None too when the libraries started offline: they then serve cached copies and fail fast
    on anything else.
    """
    if _libraries_offline():
        return None
    import huggingface_hub.constants

    if _offline_requested():
        return "offline mode is set (HF_HUB_OFFLINE) and it is not cached"
    proxied = any(os.environ.get(v) for v in _PROXY_VARS)
    endpoint = huggingface_hub.constants.ENDPOINT
    if not proxied and not _hub_reachable(endpoint):
        return f"{endpoint} is unreachable (set HF_HUB_OFFLINE=1 to use a cached copy)"
    return None


def hub_error(task: str, langs: Sequence[str], split: str, why: str) -> UserError:
    """The one-line UserError for a task's Hub dataset in one or several languages that cannot be
    loaded: names it, says why, and which local files would replace it."""
    info, layout = get_task(task), LOCAL_LAYOUT[task]
    one = len(langs) == 1
    lang = langs[0] if one else "{lang}"
    config = info.hub_config_for(lang) if one else info.hub_config
    names = {"split": layout.splits.get(split, split), "hub_split": split, "lang": lang,
             "lang3": TATOEBA_CODES.get(lang, lang) if one else "{lang3}"}
    name = info.hub_id + (f" (config {config})" if config else "")
    which = "" if one else f" for {', '.join(langs)}"
    expected = " or ".join(p.format(**names).removeprefix("**/") for p in layout.files[0])
    return UserError(
        f"{task}: cannot load Hub dataset {name}, {split} split{which}: {why}; point at local files instead "
        f"(load_local, or benchmark.kind: local with a benchmark.path laid out like ../shared/realdata, holding "
        f"{layout.folder}/{expected})"
    )


def load_hub(task: str, lang: str, split: str) -> datasets.Dataset:
    """Load one task/language/split from the Hub in the registry's schema.

    Fails fast with a UserError, never a traceback or a hang, when the Hub cannot be used:
    offline mode (a cached copy is still used when the libraries started offline), no route to
    the Hub, or a dataset/config/split the Hub does not have.
    """
    info = get_task(task)
    problem = unknown_language(info, lang)
    if problem:
        raise UserError(problem)
    if info.hub_id is None:
        raise UserError(f"{task}: no Hub source ({info.license_note}); use load_local")
    dataset, why = _fetch(info, lang, split, hub_unavailable())
    if dataset is None:
        raise hub_error(task, [lang], split, why)
    return dataset


def _fetch(info: TaskInfo, lang: str, split: str, unusable: str | None) -> tuple[Dataset | None, str | None]:
    """The rows in the task's schema and None, or None and why the Hub cannot give them (`unusable`:
    what `hub_unavailable` said, asked once by the caller since it may probe the network)."""
    if unusable:
        return None, unusable
    try:
        dataset = _load_hub_rows(info, info.hub_config_for(lang), lang, split)
    except (OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as err:
        return None, f"{type(err).__name__}: {(str(err).strip().splitlines() or [type(err).__name__])[0]}"
    return _conform(dataset, info.name), None


def _load_hub_rows(info: TaskInfo, config: str | None, lang: str, split: str) -> datasets.Dataset:
    if info.name == "anli":
        rounds = [datasets.load_dataset(info.hub_id, split=f"{split}_r{n}") for n in (1, 2, 3)]
        anli = _conform(datasets.concatenate_datasets(rounds), "anli")
        if split != "train":
            return anli
        mnli = _conform(datasets.load_dataset("nyu-mll/glue", "mnli", split="train"), "mnli")
        snli = datasets.load_dataset(_SNLI_HUB, split="train").filter(lambda row: row["label"] >= 0)
        snli = snli.map(lambda row, i: {"uid": f"snli-{i}"}, with_indices=True)
        return anli_plus(anli, mnli, _conform(snli, "anli"))
    hub_split = _HUB_SPLITS.get(info.name, {}).get(split, split)
    dataset = datasets.load_dataset(info.hub_id, config, split=hub_split)
    if info.name == "tydiqa":
        # The GoldP config holds every language; ids start with the language's English name.
        prefix = LANGUAGE_NAMES[lang].lower() + "-"
        dataset = dataset.filter(lambda row: row["id"].startswith(prefix))
    return dataset


def _conform(dataset: datasets.Dataset, task: str) -> datasets.Dataset:
    """Drop columns outside the task schema, add missing string columns as "", cast the types."""
    target = FEATURES[task]
    extra = [c for c in dataset.column_names if c not in target]
    if extra:
        dataset = dataset.remove_columns(extra)
    for column, feature in target.items():
        if column not in dataset.column_names:
            if feature != datasets.Value("string"):
                raise ValueError(f"Hub rows lack the {column!r} column of the {task} schema")
            dataset = dataset.add_column(column, [""] * len(dataset))
    return dataset.select_columns(list(target)).cast(target)


# Hub splits that do not exist or whose labels are hidden (used neither for training nor scoring).
_HUB_MISSING = {
    ("xquad", "train"), ("tatoeba", "train"), ("mlqa", "train"), ("tydiqa", "test"), ("squad", "test"),
    ("squad_v2", "test"), ("mnli", "test"), ("qqp", "test"), ("sst2", "test"), ("hellaswag", "test"),
    ("commonsenseqa", "test"), ("cosmosqa", "test"),
}


class HubDatasets:
    """Datasets from the Hugging Face Hub (`load_hub`); tasks without a Hub
    source (BUCC, CCG) come from `local` files when a `benchmark.path` is given."""

    kind = "hub"

    def __init__(self, local: LocalFiles | None):
        self.local = local

    def describe(self) -> str:
        return "the Hugging Face Hub" + (f" (and {self.local.root} for BUCC/CCG)" if self.local else "")

    def _local_only(self, task: str) -> bool:
        return get_task(task).hub_id is None

    def languages(self, task: str) -> list[str]:
        """XTREME's languages of a Hub task; those with files for a local-only one (`LocalFiles.languages`)."""
        if self._local_only(task):
            return self.local.languages(task) if self.local else []
        return list(get_task(task).languages)

    def has(self, task: str, lang: str, split: str) -> bool:
        if self._local_only(task):
            return bool(self.local and self.local.has(task, lang, split))
        return lang in get_task(task).languages and split in ("train", "validation", "test") \
            and (task, split) not in _HUB_MISSING

    def passed_over(self, task: str, lang: str, split: str) -> str | None:
        return self.local.passed_over(task, lang, split) if self._local_only(task) and self.local else None

    def files(self, task: str, lang: str, split: str) -> list[Path]:
        return self.local.files(task, lang, split) if self._local_only(task) and self.local else []

    def identity(self, task: str, lang: str, split: str) -> list:
        if self._local_only(task):
            return self.local.identity(task, lang, split) if self.local else []
        info = get_task(task)
        return [info.hub_id, info.hub_config_for(lang), split]

    def load(self, task: str, lang: str, split: str) -> Dataset:
        if self._local_only(task):
            if self.local is None:
                info = get_task(task)
                raise UserError(f"{task}: no Hub source ({info.license_note}); set benchmark.path to a folder "
                                f"laid out like ../shared/realdata that holds its files")
            return self.local.load(task, lang, split)
        return load_hub(task, lang, split)

    def missing(self, parts: Iterable[tuple[str, str, str]]) -> list[str]:
        """One line per Hub dataset (task and split, its languages together) among `parts` ((task,
        language, split) triples) that cannot be loaded, with the local files that would replace it.

        Only offline or without a route to the Hub: then every part is tried (offline from the
        start, cached copies load; set offline later or unreachable, none can). With the Hub
        reachable, [] (trials download what they need).
        """
        wanted = sorted({(task, split, lang) for task, lang, split in parts if not self._local_only(task)})
        unusable = hub_unavailable()
        if not wanted or (unusable is None and not offline_mode()):
            return []
        failed: dict[tuple[str, str, str], list[str]] = {}
        for task, split, lang in wanted:
            _, why = _fetch(get_task(task), lang, split, unusable)
            if why:
                failed.setdefault((task, split, why), []).append(lang)
        return [str(hub_error(task, langs, split, why)) for (task, split, why), langs in failed.items()]


_MODEL_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
)


def model_remedy(source: str, field: str) -> str:
    """How to give a model that the Hub cannot serve: a local folder named in `field`."""
    return (f"download the model where the Hub is reachable (e.g. `hf download {source} --local-dir DIR`) and set "
            f"{field}: DIR (a local folder with config.json, the tokenizer files and the weights)")


def missing_models(sources: Mapping[str, str]) -> list[str]:
    """One line per pretrained model that cannot be loaded, found before any trial starts: `sources`
    maps each Hub id or local folder to the spec field that names it. A folder must hold a model;
    a Hub id must be cached when the Hub is offline or unreachable (else the trials fetch it)."""
    from huggingface_hub import try_to_load_from_cache

    folders = {source: field for source, field in sources.items() if Path(source).expanduser().is_dir()}
    problems = [
        f"{field}: {source} is a folder without a model (allowed: config.json and {' or '.join(_MODEL_FILES)})"
        for source, field in folders.items()
        if not (Path(source).expanduser() / "config.json").is_file()
        or not any((Path(source).expanduser() / name).is_file() for name in _MODEL_FILES)
    ]
    hub_ids = {source: field for source, field in sources.items() if source not in folders}
    # Asked once: without a route to the Hub it costs the probe's timeout.
    unusable = (hub_unavailable() or ("offline mode is set (HF_HUB_OFFLINE) and it is not cached"
                                      if offline_mode() else None)) if hub_ids else None

    def cached(source: str, name: str) -> bool:
        return isinstance(try_to_load_from_cache(source, name), str)

    for source, field in hub_ids.items():
        if unusable and not (cached(source, "config.json") and any(cached(source, n) for n in _MODEL_FILES)):
            problems.append(f"model {source}: cannot load it ({unusable}); {model_remedy(source, field)}")
    return problems
