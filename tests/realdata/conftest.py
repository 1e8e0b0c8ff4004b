"""Fixtures for the real-data tests: the slices in ../shared/realdata and one benchmark over them.

The benchmark is xtreme_local.yaml's, built once per session in a temporary cache (its on-the-fly
tokenizer, materialised datasets and text corpus are reused by every test here).
"""

from pathlib import Path

import pytest

from xscale import data
from xscale.data import real
from xscale.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
LOCAL_SPEC = REPO / "search_spaces" / "xtreme_local.yaml"
XLMR_SPEC = REPO / "search_spaces" / "xtreme_xlmr.yaml"
# Less text than a real run trains the tokenizer on, to keep the session short (same code path).
TEST_TEXT_CHARS_PER_FILE = 40_000


def local_spec(realdata: Path, **target):
    """xtreme_local.yaml with its paths resolved and the data folder set to `realdata`."""
    spec = data.resolve_spec(load_spec(LOCAL_SPEC), LOCAL_SPEC)
    spec = spec.model_copy(update={"benchmark": spec.benchmark.model_copy(update={"path": str(realdata)})})
    if target:
        spec = spec.model_copy(update={"target": spec.target.model_copy(update=target)})
    return spec


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("xscale-cache")


@pytest.fixture(scope="session", autouse=True)
def _small_and_single_threaded():
    """A smaller tokenizer corpus, and one torch thread: tiny models on a shared machine run several
    times faster without intra-op threads competing for cores (as trials run, `resources.torch_threads`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(real, "TEXT_CHARS_PER_FILE", TEST_TEXT_CHARS_PER_FILE)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def spec(realdata):
    return local_spec(realdata)


@pytest.fixture(scope="session")
def bench(spec, cache_root):
    """The local benchmark of xtreme_local.yaml (evaluation capped as in the spec)."""
    return data.make(spec, cache_root)
