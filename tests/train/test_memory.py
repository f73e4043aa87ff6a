"""Peak memory of a block of work (``peak_mem_mb`` in run summaries)."""

import subprocess
import sys
import time

import pytest
import torch

from neurokd.train.cpu_heap import allocated_bytes
from neurokd.train.memory import PeakMemory, rss_bytes


def test_peak_memory_sees_a_freed_allocation_and_an_idle_block_reads_little():
    with PeakMemory("cpu") as pm:
        x = torch.ones(96 * 2**20 // 4)  # 96 MiB, touched
        time.sleep(0.05)  # several 5 ms samples while it lives
        del x
    assert pm.peak_mb is not None and pm.peak_mb >= 90
    idle = PeakMemory("cpu").start()
    time.sleep(0.02)
    assert idle.stop() < 90
    assert rss_bytes() > 0


# A second block that reuses memory the first one freed: with heap reuse the allocator keeps the freed 96 MiB and
# serves the second block's 48 MiB from it, so the resident set size does not grow again, yet the block needed them.
_REUSE_PROBE = """
import time, torch
from neurokd.train.cpu_heap import reuse_heap_memory
from neurokd.train.memory import PeakMemory, rss_bytes

assert reuse_heap_memory()
peaks, rss_growth = [], []
for mib in (96, 48):
    rss0 = rss_bytes()
    with PeakMemory("cpu") as pm:
        x = torch.ones(mib * 2**20 // 4)
        time.sleep(0.05)
        rss_growth.append((rss_bytes() - rss0) / 2**20)
        del x
    peaks.append(pm.peak_mb)
print(*peaks, *rss_growth)
"""


@pytest.mark.skipif(allocated_bytes() is None, reason="glibc's mallinfo2")
def test_peak_memory_counts_reused_heap_memory_again():
    out = subprocess.run([sys.executable, "-c", _REUSE_PROBE], capture_output=True, text=True, check=True)
    first, second, rss_first, rss_second = map(float, out.stdout.split())
    assert rss_first >= 90 and rss_second < 10  # the second block's memory was already resident: RSS misses it
    assert first >= 90 and second >= 45
