"""The stage cache under a process killed at the worst moment of a write.

tests/core/test_cache.py already covers the rest of issue 6 and is sound: a failing compute leaves
nothing (test_failed_compute_leaves_nothing), a writer SIGKILLed mid-compute leaves no valid entry and
its lease expires (test_killed_writer_leaves_no_valid_entry_and_lease_expires), and three concurrent
processes needing one stage compute it once (test_concurrent_trials_compute_once). This adds the
moment between writing entry.json and the atomic rename that publishes the entry.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from xscale.cache import ENTRY, StageCache, content_key

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WRITER = textwrap.dedent("""
    import os, signal, sys
    import xscale.cache as cache

    def die_instead_of_publishing(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)

    cache.os.rename = die_instead_of_publishing
    def compute(build):
        (build / "encoder.safetensors").write_bytes(b"w" * 100)
        return {"metrics": {"m": 1.0}}
    cache.StageCache(sys.argv[1]).get_or_compute("st", {"a": 1}, (), compute)
""")


def test_killed_before_publish_leaves_no_valid_entry(tmp_path):
    env = {**os.environ, "XSCALE_CACHE_LEASE_SECONDS": "1"}
    proc = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], env=env, timeout=120)
    assert proc.returncode == -9
    # The build folder is complete, entry.json included, but it is not where entries are read.
    built = [p for p in (tmp_path / "st").iterdir() if (p / ENTRY).exists()]
    assert len(built) == 1 and ".tmp-" in built[0].name
    key = content_key("st", {"a": 1})
    cache = StageCache(tmp_path)
    assert cache.lookup("st", key) is None
    # The dead writer's lease (1 s here) runs out and the next process computes the entry.
    entry = cache.get_or_compute("st", {"a": 1}, (), lambda b: (b / "w.safetensors").write_bytes(b"x") and {})
    assert not entry.hit and cache.lookup("st", key) is not None
