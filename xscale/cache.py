"""The stage cache: each stage's output stored under a content hash of its config and inputs.

An entry is a folder `<root>/<stage>/<key>/` holding the stage's files and, written last, `entry.json`
(the config, the input keys, a sha256 per file). No entry.json means not an entry, so a process killed
mid-write leaves nothing that reads as valid. Locally the folder is built under a temporary name and
renamed into place (atomic); on object stores (s3://, gs:// through pyarrow) entry.json is uploaded
last. A lease file with an expiry makes trials on different nodes compute a shared stage once; a
holder that dies stops renewing it and the next waiter takes over after the lease runs out.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow.fs as pafs

ENTRY = "entry.json"
# How long a dead holder blocks a stage; XSCALE_CACHE_LEASE_SECONDS shortens it (tests that kill
# workers mid-stage), and must then be set on every node of the cluster.
LEASE_SECONDS = float(os.environ.get("XSCALE_CACHE_LEASE_SECONDS", "60"))
POLL_SECONDS = 0.5
# Part of every key: bump it when a stage computes something else from the same config (2: the
# synthetic benchmark's retrieval tasks honour target.max_eval_examples; 3: retrieval target stages
# no longer probe their unchanged encoder).
KEY_VERSION = 3


def content_key(stage: str, config: dict[str, Any], inputs: tuple[str, ...] = ()) -> str:
    """sha256 over a canonical JSON of the stage name, its config and the keys of its inputs."""
    blob = json.dumps({"version": KEY_VERSION, "stage": stage, "config": config, "inputs": list(inputs)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """A complete cache entry, available as a local folder."""

    stage: str
    key: str
    path: Path
    meta: dict[str, Any]
    hit: bool


class StageCache:
    """Content-addressed stage outputs under `root` (a local path or a pyarrow filesystem URI)."""

    def __init__(self, root: str | os.PathLike, enabled: bool = True, local_dir: str | os.PathLike | None = None,
                 lease_seconds: float = LEASE_SECONDS):
        self.uri = str(root)
        self.enabled = enabled
        self.lease_seconds = lease_seconds
        if "://" in self.uri:
            self.fs, self.root = pafs.FileSystem.from_uri(self.uri)
            self.local = isinstance(self.fs, pafs.LocalFileSystem)
        else:
            self.fs, self.root, self.local = pafs.LocalFileSystem(), str(Path(self.uri).resolve()), True
        # Remote entries are downloaded here before use; local entries are used in place.
        self.staging = Path(local_dir or tempfile.gettempdir()) / "xscale-cache"
        self.computed: list[str] = []

    def _dir(self, stage: str, key: str) -> str:
        return f"{self.root}/{stage}/{key}"

    def lookup(self, stage: str, key: str) -> Entry | None:
        """The complete entry for `key`, or None."""
        if not self.enabled:
            return None
        d = self._dir(stage, key)
        try:
            with self.fs.open_input_stream(f"{d}/{ENTRY}") as f:
                meta = json.loads(f.read())
        except (FileNotFoundError, OSError, json.JSONDecodeError):
            return None
        if self.local:
            return Entry(stage, key, Path(d), meta, hit=True)
        local = self.staging / stage / key
        if not (local / ENTRY).exists():
            tmp = local.with_name(f".{key}.{uuid.uuid4().hex}")
            pafs.copy_files(d, str(tmp), source_filesystem=self.fs, destination_filesystem=pafs.LocalFileSystem())
            tmp.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.rename(local)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        return Entry(stage, key, local, meta, hit=True)

    def _publish(self, stage: str, key: str, build_dir: Path, meta: dict) -> Path:
        files = {p.relative_to(build_dir).as_posix(): file_sha256(p) for p in sorted(build_dir.rglob("*")) if p.is_file()}
        meta = {**meta, "files": files, "created_unix": time.time(), "host": socket.gethostname()}
        dest = self._dir(stage, key)
        if self.local:
            (build_dir / ENTRY).write_text(json.dumps(meta, indent=1, sort_keys=True))
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(build_dir, dest)
            except OSError:
                # Another writer won the race with identical content; keep theirs.
                shutil.rmtree(build_dir, ignore_errors=True)
            return Path(dest)
        pafs.copy_files(str(build_dir), dest, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)
        with self.fs.open_output_stream(f"{dest}/{ENTRY}") as f:
            f.write(json.dumps(meta, indent=1, sort_keys=True).encode())
        local = self.staging / stage / key
        (build_dir / ENTRY).write_text(json.dumps(meta))
        local.parent.mkdir(parents=True, exist_ok=True)
        if not local.exists():
            os.rename(build_dir, local)
        return local

    def _build_dir(self, stage: str, key: str) -> Path:
        if not self.enabled:
            # --no-cache: outputs live in a scratch folder that `discard_uncached` removes.
            base = self.staging / "uncached" / str(os.getpid())
        elif self.local:
            base = Path(self._dir(stage, key)).parent
        else:
            base = self.staging / stage
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{key[:16]}.tmp-", dir=base))

    @contextmanager
    def lease(self, stage: str, key: str):
        """Hold the right to compute `stage/key`; waits while another live holder has it."""
        path = f"{self._dir(stage, key)}.lease"
        me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        while not self._try_acquire(path, me):
            if self.lookup(stage, key) is not None:
                break
            time.sleep(POLL_SECONDS)
        stop = threading.Event()
        renew = threading.Thread(target=self._renew, args=(path, me, stop), daemon=True)
        renew.start()
        try:
            yield
        finally:
            stop.set()
            renew.join()
            if self._holder(path)[0] == me:
                self._delete(path)

    def _holder(self, path: str) -> tuple[str | None, float]:
        try:
            with self.fs.open_input_stream(path) as f:
                d = json.loads(f.read())
            return d["holder"], float(d["expires_unix"])
        except (FileNotFoundError, OSError, json.JSONDecodeError, KeyError):
            return None, 0.0

    def _write_lease(self, path: str, me: str) -> None:
        body = json.dumps({"holder": me, "expires_unix": time.time() + self.lease_seconds}).encode()
        with self.fs.open_output_stream(path) as f:
            f.write(body)

    def _try_acquire(self, path: str, me: str) -> bool:
        holder, expires = self._holder(path)
        if holder is not None and expires > time.time():
            return holder == me
        if self.local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if holder is not None:
                # Stale lease: move it aside under a unique name so only one waiter takes it over.
                try:
                    os.rename(path, f"{path}.stale-{uuid.uuid4().hex}")
                except FileNotFoundError:
                    return False
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps({"holder": me, "expires_unix": time.time() + self.lease_seconds}).encode())
            for stale in Path(path).parent.glob(Path(path).name + ".stale-*"):
                stale.unlink(missing_ok=True)
            return True
        # Object stores have no exclusive create here: write, wait, read back; the last writer wins
        # and every other contender sees a foreign holder and keeps waiting.
        self._write_lease(path, me)
        time.sleep(POLL_SECONDS)
        return self._holder(path)[0] == me

    def _renew(self, path: str, me: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            if self._holder(path)[0] == me:
                self._write_lease(path, me)

    def _delete(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except (FileNotFoundError, OSError):
            pass

    def get_or_compute(self, stage: str, config: dict[str, Any], inputs: tuple[str, ...],
                       compute: Callable[[Path], dict[str, Any]]) -> Entry:
        """The entry for (stage, config, inputs), computing it with `compute(build_dir) -> meta` if absent.

        `compute` writes its files into `build_dir` and returns metadata (metrics, timings) that is
        stored in entry.json and returned on later hits.
        """
        key = content_key(stage, config, inputs)
        hit = self.lookup(stage, key)
        if hit is not None:
            return hit
        with self.lease(stage, key) if self.enabled else nullcontext():
            hit = self.lookup(stage, key)
            if hit is not None:
                return hit
            build = self._build_dir(stage, key)
            try:
                t0, cpu0 = time.perf_counter(), time.process_time()
                meta = compute(build)
                meta = {"stage": stage, "key": key, "config": config, "inputs": list(inputs), **meta,
                        "compute_seconds": time.perf_counter() - t0,
                        "cpu_seconds": time.process_time() - cpu0}
                path = self._publish(stage, key, build, meta) if self.enabled else build
            except BaseException:
                shutil.rmtree(build, ignore_errors=True)
                raise
            self.computed.append(f"{stage}/{key[:12]}")
            return Entry(stage, key, path, {**meta, "files": {}}, hit=False)

    def discard_uncached(self) -> None:
        """Remove the scratch outputs of a --no-cache run."""
        if not self.enabled:
            shutil.rmtree(self.staging / "uncached" / str(os.getpid()), ignore_errors=True)

