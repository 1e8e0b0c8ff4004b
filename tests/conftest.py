"""Fixtures every test folder shares: the tiny synthetic benchmark, where the real data slices live."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def realdata_root() -> Path:
    """`$XSCALE_REALDATA`, else `<repo>/../shared/realdata` (whether or not it exists)."""
    configured = os.environ.get("XSCALE_REALDATA")
    return Path(configured) if configured else REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> Path:
    """The tiny synthetic benchmark of seed 0, generated once per test session."""
    from xscale.synth import generate

    return generate(tmp_path_factory.mktemp("synth") / "tiny-0", "tiny", 0)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real data slices, or a skip that says where they were looked for."""
    root = realdata_root()
    if not root.is_dir():
        pytest.skip(
            f"real data slices not found at {root} (set XSCALE_REALDATA or place them at "
            "<repo>/../shared/realdata)"
        )
    return root
