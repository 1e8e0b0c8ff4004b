"""A trial process hands freed tensor buffers back to the OS (`pipeline.return_freed_buffers`)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

# The child frees an 8 MiB buffer (glibc's dynamic mmap threshold then rises to 8 MiB), allocates a
# 1.5 MiB tensor and prints how many bytes glibc holds in separate mappings (mallinfo2's hblkhd):
# a buffer from its own mapping is returned to the OS on free, one from the heap may stay resident.
_CHILD = """
import ctypes, sys
import torch
from xscale.pipeline import return_freed_buffers

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                      "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
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
