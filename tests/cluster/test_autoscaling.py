"""Ray's fake multi-node autoscaler adds worker nodes for a sweep's trials and removes them once idle."""

import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from clusterlib import free_port, sweep_cmd, tail, trial_runs, wait_for, write_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
RAY = Path(sys.executable).with_name("ray")
CONFIG = Path(__file__).with_name("fake_autoscaler.yaml")


def _raylets(procs) -> int:
    """Raylet processes of this test's cluster: the head's plus one per live fake worker node."""
    n = 0
    for pid in procs.ours():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                exe = f.read().split(b"\0")[0]
        except OSError:
            continue
        n += exe.endswith(b"/raylet")
    return n


def test_fake_autoscaler_adds_and_removes_workers(procs, tmp_path, cache_dir):
    port = free_port()
    config = yaml.safe_load(CONFIG.read_text())
    config["provider"]["gcs_address"] = f"127.0.0.1:{port}"
    assert config["available_node_types"]["ray.head.default"]["resources"]["CPU"] == 0
    (tmp_path / "autoscaler.yaml").write_text(yaml.safe_dump(config))
    head = [str(RAY), "start", "--head", f"--autoscaling-config={tmp_path / 'autoscaler.yaml'}", f"--port={port}",
            "--num-cpus=0", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats"]
    code = procs.run(head, "head.log", timeout=90,
                     extra_env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"})
    assert code == 0, tail(tmp_path / "head.log")
    assert _raylets(procs) == 1

    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.time(), _raylets(procs)))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        spec = write_spec(tmp_path, "autoscale")
        code = procs.run(sweep_cmd(spec, tmp_path, cache_dir, "--address", f"127.0.0.1:{port}"), "sweep.log",
                         timeout=300)
        assert code == 0, tail(tmp_path / "sweep.log")
        done = time.time()
        # Idle workers are removed idle_timeout_minutes (6 s) after their last trial.
        wait_for(lambda: _raylets(procs) == 1, 90, "the idle worker nodes to be removed")
        removed_after = time.time() - done
    finally:
        stop.set()
        sampler.join()

    assert max(n for _, n in samples) >= 2, "the autoscaler never added a worker node"
    assert {r.info.status for r in trial_runs(tmp_path, "xscale-autoscale")} == {"FINISHED"}
    monitor = "".join(p.read_text(errors="replace") for p in procs.session_logs()[0].glob("monitor.log*"))
    assert "node(s) of type ray.worker.cpu" in monitor, monitor[-3000:]  # "Adding 1 node(s) of type ..."
    assert "Terminating the node" in monitor and "(idle)" in monitor, monitor[-3000:]
    print(f"peak nodes {max(n for _, n in samples)}; workers gone {removed_after:.0f}s after the sweep")
