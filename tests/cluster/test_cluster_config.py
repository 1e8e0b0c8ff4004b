"""ray_cluster.yaml passes Ray's own autoscaler config validation and has the shape the README promises."""

import copy
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _validated(config: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())


def test_ray_accepts_the_cluster_config(config):
    prepared = _validated(config)
    assert prepared["provider"]["type"] == "aws"


@pytest.mark.parametrize("mutate", [
    lambda c: c["available_node_types"]["cpu_worker"].__setitem__("min_workers", "x"),
    lambda c: c["available_node_types"]["gpu_worker"].pop("node_config"),
    lambda c: c.__setitem__("head_node_type", "no_such_type"),
    lambda c: c.__setitem__("idle_timeout_minutes", "soon"),
], ids=["min_workers-not-int", "no-node_config", "unknown-head-type", "idle-timeout-not-number"])
def test_ray_rejects_broken_copies(config, mutate):
    broken = copy.deepcopy(config)
    mutate(broken)
    with pytest.raises(Exception):  # jsonschema.ValidationError or ValueError, whichever check trips first
        _validated(broken)


def test_worker_types_scale_and_cover_cpu_and_gpu(config):
    types = config["available_node_types"]
    head = config["head_node_type"]
    workers = {name: t for name, t in types.items() if name != head}
    for name, t in workers.items():
        assert 0 <= t["min_workers"] < t["max_workers"], name
    assert sum(t["max_workers"] for t in workers.values()) <= config["max_workers"]
    gpu = [n for n, t in workers.items() if t["resources"].get("GPU", 0) >= 1]
    cpu = [n for n, t in workers.items() if t["resources"].get("CPU", 0) >= 1 and not t["resources"].get("GPU")]
    assert gpu and cpu, workers
    assert types[head]["resources"].get("CPU") == 0  # the head runs the driver, not trials
    assert 0 < config["idle_timeout_minutes"] <= 30


def test_cluster_services_bind_to_localhost(config):
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    mlflow = " ".join(config["head_setup_commands"])
    assert "mlflow server --host 127.0.0.1" in mlflow and "0.0.0.0" not in mlflow
