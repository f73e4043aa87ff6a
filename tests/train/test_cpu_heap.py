"""train.cpu_heap_reuse: freed large tensors stay in the heap for reuse instead of being unmapped."""

import subprocess
import sys

import pytest

# glibc's own bookkeeping (mallinfo2): bytes in mmapped blocks while a 64 MiB tensor lives, and free bytes kept in
# the heap after it is freed. (Page-fault counts would say the same but are noisy here: the kernel's proactive
# reclaim pages idle heap memory out.)
_PROBE = """
import sys, torch
from neurokd.train.cpu_heap import mallinfo, reuse_heap_memory

if sys.argv[1] == "on":
    assert reuse_heap_memory()
base = mallinfo().hblkhd
x = torch.ones(16 * 1024 * 1024)  # 64 MiB, above glibc's largest mmap threshold
mapped = mallinfo().hblkhd - base
del x
print(mapped >> 20, mallinfo().fordblks >> 20)
"""

MIB_64 = 64


def _probe(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    mapped, kept = out.stdout.split()
    return int(mapped), int(kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_heap_reuse_keeps_large_tensors_in_the_heap():
    mapped, kept = _probe("off")
    assert mapped >= MIB_64 and kept < MIB_64  # glibc's default: mapped afresh, unmapped when freed
    mapped, kept = _probe("on")
    assert mapped == 0 and kept >= MIB_64  # served from the heap and kept there for the next step
