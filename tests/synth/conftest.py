"""Shared fixtures of the synthetic-benchmark tests: one `tiny` benchmark on disk and its internals."""

from pathlib import Path

import pytest

from xscale.synth import PRESETS, generate
from xscale.synth.languages import build_lexicons
from xscale.synth.tasks import Ctx, make_ctx
from xscale.synth.world import build_world


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> Path:
    """The tiny benchmark of seed 0, generated once per test session."""
    return generate(tmp_path_factory.mktemp("synth") / "tiny-0", "tiny", 0)


@pytest.fixture(scope="session")
def tiny_ctx() -> Ctx:
    """World, lexicons and realisers of the tiny benchmark of seed 0 (no disk)."""
    config = PRESETS["tiny"]
    world = build_world(config, 0)
    return make_ctx(world, build_lexicons(world, config, 0), config, 0)
