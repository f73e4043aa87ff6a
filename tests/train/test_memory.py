"""Peak memory of a block of work (``peak_mem_mb`` in run summaries)."""

import time

import torch

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
