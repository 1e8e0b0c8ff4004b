"""The stage cache: content keys, hits, atomic entries, leases that expire, one computation per key."""

import json
import multiprocessing as mp
import os
import signal
import time

from xscale.cache import ENTRY, StageCache, content_key


def _write(build, text="x"):
    (build / "out.txt").write_text(text)
    return {"metrics": {"m": 1.0}}


def test_key_is_content_hash():
    a = content_key("s", {"a": 1, "b": [1, 2]}, ("in",))
    assert a == content_key("s", {"b": [1, 2], "a": 1}, ("in",))
    assert a != content_key("s", {"a": 2, "b": [1, 2]}, ("in",))
    assert a != content_key("s", {"a": 1, "b": [1, 2]}, ("other",))


def test_hit_after_compute(tmp_path):
    cache = StageCache(tmp_path)
    calls = []
    first = cache.get_or_compute("st", {"a": 1}, (), lambda b: calls.append(1) or _write(b))
    second = cache.get_or_compute("st", {"a": 1}, (), lambda b: calls.append(1) or _write(b))
    assert (not first.hit, second.hit, len(calls)) == (True, True, 1)
    assert second.meta["metrics"] == {"m": 1.0}
    meta = json.loads((second.path / ENTRY).read_text())
    assert "out.txt" in meta["files"] and len(meta["files"]["out.txt"]) == 64
    # Wall and CPU time of the computation are both kept (the synth check's budget is in CPU time).
    assert meta["compute_seconds"] >= 0 and meta["cpu_seconds"] >= 0


def test_disabled_cache_always_computes(tmp_path):
    cache = StageCache(tmp_path, enabled=False, local_dir=tmp_path / "scratch")
    calls = []
    for _ in range(2):
        e = cache.get_or_compute("st", {"a": 1}, (), lambda b: calls.append(1) or _write(b))
        assert not e.hit and (e.path / "out.txt").exists()
    assert len(calls) == 2
    cache.discard_uncached()
    assert not (tmp_path / "st").exists()


def test_failed_compute_leaves_nothing(tmp_path):
    cache = StageCache(tmp_path)

    def boom(b):
        (b / "half.txt").write_text("half")
        raise RuntimeError("died")

    try:
        cache.get_or_compute("st", {"a": 1}, (), boom)
    except RuntimeError:
        pass
    assert cache.lookup("st", content_key("st", {"a": 1})) is None
    assert not [p for p in (tmp_path / "st").iterdir() if not p.name.endswith(".lease")]


def _slow_writer(root, started):
    cache = StageCache(root)

    def compute(b):
        (b / "part.bin").write_bytes(b"0" * 1000)
        started.set()
        time.sleep(60)
        return {}

    cache.get_or_compute("st", {"a": 1}, (), compute)


def test_killed_writer_leaves_no_valid_entry_and_lease_expires(tmp_path):
    started = mp.get_context("spawn").Event()
    proc = mp.get_context("spawn").Process(target=_slow_writer, args=(str(tmp_path), started))
    proc.start()
    assert started.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    cache = StageCache(tmp_path, lease_seconds=1.0)
    assert cache.lookup("st", content_key("st", {"a": 1})) is None
    # The dead holder's lease (60 s) is honoured until it expires; shorten it to keep the test quick.
    lease = next((tmp_path / "st").glob("*.lease"))
    data = json.loads(lease.read_text())
    data["expires_unix"] = time.time() + 1.0
    lease.write_text(json.dumps(data))
    t0 = time.time()
    e = cache.get_or_compute("st", {"a": 1}, (), _write)
    assert not e.hit and time.time() - t0 >= 0.5
    assert cache.lookup("st", e.key) is not None


def _counting_worker(root, counter_path, barrier):
    cache = StageCache(root)
    barrier.wait()

    def compute(b):
        with open(counter_path, "a") as f:
            f.write("1")
        time.sleep(1.0)
        return _write(b)

    cache.get_or_compute("st", {"shared": True}, (), compute)


def test_concurrent_trials_compute_once(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    counter = tmp_path / "count.txt"
    procs = [ctx.Process(target=_counting_worker, args=(str(tmp_path / "c"), str(counter), barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counter.read_text() == "1"
