"""train.cpu_heap_reuse: freed large tensors are reused from the heap instead of being mapped afresh."""

import subprocess
import sys

import pytest

_PROBE = """
import resource, sys, torch
from neurokd.train.cpu_heap import reuse_heap_memory
if sys.argv[1] == "on":
    assert reuse_heap_memory()
def touch():
    x = torch.ones(16 * 1024 * 1024)  # 64 MiB, above glibc's largest mmap threshold
    del x
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_heap_reuse_stops_page_faulting_large_tensors_every_time():
    # 5 x 64 MiB = 81,920 pages of 4 KiB when every allocation is mapped afresh (measured: 81,925); with reuse at
    # most the first of the five touches new pages (measured: 16,384)
    assert _page_faults("off") > 60_000
    assert _page_faults("on") < 20_000
