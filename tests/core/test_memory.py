"""A trial process hands freed tensor buffers back to the OS (`pipeline.return_freed_buffers`) and keeps
few compiled CPU kernels (`pipeline.bound_kernel_caches`)."""

import os
import subprocess
import sys

import pytest
import torch

from xscale.pipeline import KERNEL_CACHE_VARIABLES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

# Both children read glibc's counters (mallinfo2) through this.
_MALLINFO = """
import ctypes

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                      "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
"""

# The child frees an 8 MiB buffer (glibc's dynamic mmap threshold then rises to 8 MiB), allocates a
# 1.5 MiB tensor and prints how many bytes glibc holds in separate mappings (mallinfo2's hblkhd):
# a buffer from its own mapping is returned to the OS on free, one from the heap may stay resident.
_CHILD = _MALLINFO + """
import sys
import torch
from xscale.pipeline import return_freed_buffers

if sys.argv[1] == "on":
    assert return_freed_buffers()
big = torch.ones(8 << 20, dtype=torch.uint8)
del big
before = libc.mallinfo2().hblkhd
buffer = torch.ones(3 << 19, dtype=torch.uint8)
print(libc.mallinfo2().hblkhd - before)
"""


def _mapped_bytes(setting: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHILD, setting], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_large_buffers_get_their_own_mapping():
    assert _mapped_bytes("on") >= 3 << 19


def test_without_it_they_come_from_the_heap():
    """The default this guards against."""
    assert _mapped_bytes("off") == 0


# The child runs bf16 linear layers forward and backward over 200 batch shapes, each new to oneDNN,
# and prints by how many MiB glibc's allocated bytes grew (mallinfo2's uordblks): compiled kernels
# that the caches keep stay allocated.
_KERNEL_CHILD = _MALLINFO + """
import random, sys
import torch
from xscale.pipeline import bound_kernel_caches

torch.set_num_threads(1)
if sys.argv[1] == "on":
    bound_kernel_caches()
weight = torch.randn(256, 64, dtype=torch.bfloat16, requires_grad=True)
rng = random.Random(0)
shapes = rng.sample([(b, n) for b in range(16, 65) for n in range(4, 65)], 220)
def step(b, n):
    x = torch.randn(b, n, 64, dtype=torch.bfloat16, requires_grad=True)
    torch.nn.functional.linear(x, weight).sum().backward()
for b, n in shapes[:20]:  # warm up: the caches fill to their capacity
    step(b, n)
before = libc.mallinfo2().uordblks
for b, n in shapes[20:]:
    step(b, n)
print((libc.mallinfo2().uordblks - before) >> 20)
"""

bf16_kernels = pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                                  reason="bf16 runs through oneDNN only on a CPU that supports it")


def _kernel_growth_mib(setting: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_CACHE_VARIABLES}
    out = subprocess.run([sys.executable, "-c", _KERNEL_CHILD, setting], capture_output=True, text=True,
                         check=True, env=env)
    return int(out.stdout.split()[-1])


@bf16_kernels
def test_compiled_kernels_stay_bounded():
    assert _kernel_growth_mib("on") < 20


@bf16_kernels
def test_without_the_bound_every_new_shape_keeps_its_kernels():
    """The default this guards against."""
    assert _kernel_growth_mib("off") > 60
