"""Where a trial's data comes from: the embedded synthetic benchmark, local files, or the Hub.

Every source is a `DataSource`: it hands out the same things in the same Hub schemas (a task's
English training and dev rows, its test rows per language, the tokenizer, the pretraining corpus and
parallel sentences for the alignment probes), so the pipeline never asks where they came from.

Relative `benchmark.path` (and a `model.hub_id` that names an existing folder) resolve against the
spec file's folder: `prepare_spec` does it before a sweep starts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from xscale.data.base import PROBE_TASK, DataSource, fraction_subset
from xscale.data.real import HubData, LocalData, model_problems
from xscale.data.synthetic import SyntheticData
from xscale.errors import UserError
from xscale.spec import Spec

__all__ = ["DataSource", "PROBE_TASK", "fraction_subset", "make", "prepare_spec", "resolve_spec"]


def make(spec: Spec, cache_root: Path) -> DataSource:
    """The data source a spec names (`cache_root` holds generated and materialised data); real data
    is checked at once (missing data is a UserError, fallbacks are logged)."""
    if spec.benchmark.kind == "synthetic":
        return SyntheticData.ensure(spec.benchmark, Path(cache_root) / "benchmarks", spec.intermediate.translated,
                                    spec.target.max_eval_examples)
    data = LocalData(spec, cache_root) if spec.benchmark.kind == "local" else HubData(spec, cache_root)
    data.check()
    return data


def resolve_spec(spec: Spec, spec_file: str | Path) -> Spec:
    """`spec` with a relative `benchmark.path` (and a `model.hub_id` naming an existing folder) made
    absolute against the spec file's folder, so trials (which run in other folders) find them."""
    base = Path(spec_file).resolve().parent
    updates = {}
    if spec.benchmark.path and not Path(spec.benchmark.path).expanduser().is_absolute():
        path = str((base / Path(spec.benchmark.path).expanduser()).resolve())
        updates["benchmark"] = spec.benchmark.model_copy(update={"path": path})
    hub_id = spec.model.hub_id
    if hub_id and not Path(hub_id).expanduser().is_absolute() and (base / hub_id).is_dir():
        updates["model"] = spec.model.model_copy(update={"hub_id": str((base / hub_id).resolve())})
    return spec.model_copy(update=updates) if updates else spec


def prepare_spec(spec: Spec, spec_file: str | Path, cache_root: Path | None = None) -> Spec:
    """Resolve the spec's paths and check its data and models before a sweep starts: a missing folder,
    a task without data, and (offline or without a route to the Hub) every dataset and pretrained model
    that is not cached are listed in one UserError, a line each, rather than failing every trial; then
    the pretrained tokenizer is loaded once. Nothing is trained or materialised (`cache_root` only
    names where the data would keep its files; default: the temporary folder)."""
    spec = resolve_spec(spec, spec_file)
    problems = model_problems(spec)
    data = None
    if spec.benchmark.kind != "synthetic":
        try:
            data = make(spec, Path(cache_root) if cache_root else Path(tempfile.gettempdir()) / "xscale-cache")
        except UserError as err:
            problems = [*str(err).splitlines(), *problems]
    if problems:
        raise UserError("\n".join(problems))
    if data is not None and data.tokenizer_source:
        data.tokenizer  # noqa: B018 - loads (or fails fast) once on the driver
    return spec
