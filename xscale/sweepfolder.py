"""The record a sweep leaves in its folder (`xscale-sweep.json`): its id, name, experiment and tracking
URI, so that `xscale report` finds the sweep's runs from the folder alone, also after the folder moved,
and `--resume` knows the folder holds a sweep."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass

import pyarrow.fs as pafs

RECORD = "xscale-sweep.json"


@dataclass(frozen=True)
class SweepRecord:
    sweep_id: str
    """Tag `xscale.sweep_id` on every run of the sweep (every invocation of the folder)."""
    name: str
    experiment: str
    tracking_uri: str
    spec_sha256: str
    created_unix: float

    @classmethod
    def new(cls, name: str, experiment: str, tracking_uri: str, spec_sha256: str) -> SweepRecord:
        return cls(uuid.uuid4().hex, name, experiment, tracking_uri, spec_sha256, time.time())


def _fs(folder: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(folder) if "://" in folder else (pafs.LocalFileSystem(), folder)


def read(folder: str) -> SweepRecord | None:
    """The record in `folder` (a path or a pyarrow URI), or None when it holds no sweep."""
    fs, path = _fs(folder)
    try:
        with fs.open_input_stream(f"{path}/{RECORD}") as f:
            data = json.loads(f.read())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return None
    return SweepRecord(**{k: data[k] for k in SweepRecord.__dataclass_fields__})


def write(folder: str, record: SweepRecord) -> None:
    fs, path = _fs(folder)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{RECORD}") as f:
        f.write(json.dumps(asdict(record), indent=1).encode())
