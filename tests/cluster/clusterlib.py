"""Helpers for the cluster tests: tiny specs, sweeps as subprocesses, and process hygiene.

Every process a test starts (sweep drivers, Ray heads and nodes, their workers, fake autoscaler
nodes) gets a unique marker in its environment and its own process group. Teardown kills, by PID,
every process that carries the marker or sits in one of those groups, and asserts that none is left,
even when the test failed: a leaked Ray process would hang CI. Nothing here kills by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).resolve().parent / "specs"
PY = sys.executable
MARK_VAR = "XSCALE_TEST_PROCS"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgid) of a live process, or None."""
    text = _read(f"/proc/{pid}/stat").decode(errors="replace")
    if not text:
        return None
    fields = text[text.rfind(")") + 2:].split()
    if fields[0] == "Z":
        return None  # a zombie is already dead; its parent reaps it
    return int(fields[1]), int(fields[2])


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Procs:
    """The processes of one test: started with a marker and a new session, killed at teardown."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.mark = uuid.uuid4().hex
        # Short: Ray's Unix socket paths live under it and must stay below 108 bytes.
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="xsr", dir="/tmp"))
        self.pgids: set[int] = set()
        self.started: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            MARK_VAR: self.mark,
            "RAY_TMPDIR": str(self.ray_tmp),
            # Token auth switches on for `ray start --head` when ~/.ray/auth_token exists (Ray >= 2.59);
            # heads, nodes and drivers must agree, so every process here runs without it.
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
            # Ray's single-machine mode: every node IP is 127.0.0.1, so what the tests start (GCS,
            # raylets, workers, drivers) binds to loopback and drivers find nodes at 127.0.0.1.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            # Tune saves its experiment state at most every 10 s by default; the resume test needs it sooner.
            "TUNE_GLOBAL_CHECKPOINT_S": "1",
            # A worker killed mid-stage leaves its cache lease behind; keep the wait for it short.
            "XSCALE_CACHE_LEASE_SECONDS": "5",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
        self.env.pop("RAY_ADDRESS", None)

    def start(self, cmd: list[str], log: str, extra_env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        out = open(self.tmp / log, "ab")
        proc = subprocess.Popen(cmd, env={**self.env, **(extra_env or {})}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=kw.pop("cwd", self.tmp), **kw)
        out.close()
        self.started.append(proc)
        self.pgids.add(proc.pid)
        return proc

    def run(self, cmd: list[str], log: str, timeout: float, extra_env: dict[str, str] | None = None) -> int:
        proc = self.start(cmd, log, extra_env)
        code = self.wait(proc, timeout)
        if code is None:
            pytest.fail(f"{' '.join(cmd[2:5])}... still running after {timeout:.0f}s; see {self.tmp / log}")
        return code

    @staticmethod
    def wait(proc: subprocess.Popen, timeout: float) -> int | None:
        """The exit code (negative: killed by that signal), or None on timeout. The process is not
        reaped: its PID, and so its process group's id, cannot be reused by a stranger before teardown."""
        deadline = time.time() + timeout
        while True:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None and info.si_pid:
                return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            if time.time() > deadline:
                return None
            time.sleep(0.2)

    def ours(self) -> set[int]:
        """Live processes that carry our marker, sit in a process group we created, or descend from
        either (setproctitle, which Ray's workers use, may overwrite the environment block)."""
        me = os.getpid()
        needle = f"{MARK_VAR}={self.mark}".encode()
        found, parent = set(), {}
        for pid in _pids():
            st = _stat(pid)
            if st is None or pid == me:
                continue
            parent[pid] = st[0]
            if st[1] in self.pgids or needle in _read(f"/proc/{pid}/environ"):
                found.add(pid)
        roots = found | {p.pid for p in self.started}
        grew = True
        while grew:
            new = {pid for pid, ppid in parent.items() if ppid in roots and pid not in roots}
            roots |= new
            found |= new
            grew = bool(new)
        return found

    def kill_all(self) -> set[int]:
        """SIGKILL every process of ours until none is left; returns the PIDs that were alive."""
        seen: set[int] = set()
        for _ in range(50):
            alive = self.ours()
            if not alive:
                break
            seen |= alive
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        for proc in self.started:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        # Reaped leaders free their PIDs (and group ids) for reuse: from here on, the marker only.
        self.pgids.clear()
        self.started.clear()
        return seen

    def session_logs(self) -> list[Path]:
        return sorted({p.resolve() for p in self.ray_tmp.glob("ray/session_*/logs")})  # session_latest is a link

    def worker_output(self) -> str:
        """Everything the trials printed (Ray keeps worker stdout in the session folders)."""
        return "".join(p.read_text(errors="replace") for d in self.session_logs() for p in sorted(d.glob("worker-*.out")))


def write_spec(tmp: Path, name: str, base: str = "tiny.yaml", **changes: Any) -> Path:
    """A copy of specs/<base> with top-level sections updated (dicts merged one level deep)."""
    data = yaml.safe_load((SPECS / base).read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sweep_cmd(spec: Path, tmp: Path, cache: Path | str, *extra: str, out: str | None = None) -> list[str]:
    return [PY, "-m", "xscale.cli", "sweep", str(spec), "--out", out or str(tmp / "out"), "--tracking-uri",
            f"sqlite:///{tmp / 'mlflow.db'}", "--cache-dir", str(cache), *extra]


def trial_runs(tmp: Path, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], filter_string="tags.`xscale.role` = 'trial'", max_results=1000)


def all_runs(tmp: Path, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def metric_history(tmp: Path, run_id: str, key: str) -> list:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}").get_metric_history(run_id, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"({path} missing)"
