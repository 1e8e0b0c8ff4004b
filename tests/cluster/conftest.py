"""Fixtures of the cluster tests (helpers live in clusterlib.py)."""

import shutil
from pathlib import Path

import pytest

from clusterlib import Procs


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.kill_all()
        left = p.ours()
        shutil.rmtree(p.ray_tmp, ignore_errors=True)
        assert not left, f"processes survived teardown: {sorted(left)}"


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory) -> Path:
    """The tiny synthetic benchmark, generated once and copied into each test's stage cache."""
    from xscale.synth import ensure

    root = tmp_path_factory.mktemp("bench") / "benchmarks"
    ensure(root, preset="tiny", seed=0)
    return root


@pytest.fixture
def cache_dir(tmp_path, bench_root) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(bench_root, cache / "benchmarks")
    return cache
