"""Shared fixtures of the synthetic-benchmark tests: the internals of the tiny benchmark."""

import pytest

from xscale.synth import PRESETS
from xscale.synth.languages import build_lexicons
from xscale.synth.tasks import Ctx, make_ctx
from xscale.synth.world import build_world


@pytest.fixture(scope="session")
def tiny_ctx() -> Ctx:
    """World, lexicons and realisers of the tiny benchmark of seed 0 (no disk)."""
    config = PRESETS["tiny"]
    world = build_world(config, 0)
    return make_ctx(world, build_lexicons(world, config, 0), config, 0)
