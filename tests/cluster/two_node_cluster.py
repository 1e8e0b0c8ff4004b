"""Helper process of test_node_loss: a local two-node Ray cluster (head + 1 worker node, 1 CPU each).

Run as `python two_node_cluster.py STATE_DIR`; writes STATE_DIR/info.json (address, PIDs), then obeys
lines on stdin: `remove-when-busy` waits until a trial actor runs on the worker node, lets it work a
few seconds, removes the node (SIGKILL of its processes) and writes STATE_DIR/removed.json.
The test runs this in its own session and kills its process group (and every marked process) at the end.
"""

import json
import os
import sys
import time
from pathlib import Path

from ray._private import ray_constants
from ray.cluster_utils import Cluster


def _children(ppid: int) -> dict[int, str]:
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) == ppid:
            out[int(p)] = cmd
    return out


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.rename(path)


def main(state: Path) -> None:
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    worker = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    raylet = worker.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    _write(state / "info.json", {"address": cluster.address, "worker_raylet_pid": raylet})
    for line in sys.stdin:
        if line.strip() != "remove-when-busy":
            continue
        deadline = time.time() + 120
        busy: dict[int, str] = {}
        while time.time() < deadline and not busy:
            busy = {pid: cmd for pid, cmd in _children(raylet).items() if cmd.startswith("ray::ImplicitFunc")}
            time.sleep(0.2)
        time.sleep(4)  # mid-stage, not at a stage boundary
        cluster.remove_node(worker, allow_graceful=False)
        _write(state / "removed.json", {"busy_actor_pids": sorted(busy), "at": time.time()})
    cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
