"""Peak memory of a block of work (a training run), in MiB.

- CUDA: ``torch.cuda.max_memory_allocated`` over the block (tensors only; the caching allocator's reserve and
  the CUDA context are not counted).
- CPU: bytes allocated through malloc (glibc's ``mallinfo2``: live allocations only, whatever freed memory the
  allocator keeps, so the reading does not depend on ``train.cpu_heap_reuse`` or on earlier blocks in the same
  process), sampled every ``interval_s`` by a daemon thread, peak minus the value at entry: the extra memory the
  block needed at its worst. Off glibc the resident set size (``/proc/self/statm``) stands in; memory an earlier
  block freed and the allocator kept then makes a block read low.
"""

from __future__ import annotations

import os
import threading
import weakref

import torch

from neurokd.train.cpu_heap import allocated_bytes

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 2**20


def rss_bytes() -> int:
    """Current resident set size of this process in bytes (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_bytes() -> int:
    """What :class:`PeakMemory` samples on CPU: allocated bytes on glibc, else the resident set size."""
    n = allocated_bytes()
    return rss_bytes() if n is None else n


class PeakMemory:
    """``with PeakMemory(device) as pm: ...`` (or ``pm.start()`` ... ``pm.stop()``), then ``pm.peak_mb`` (MiB,
    rounded to 0.1). The sampling thread holds only a weak reference, so it also ends once a started, never
    stopped meter (a run that raised) is garbage."""

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.005):
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = 0
        self._peak = 0

    @staticmethod
    def _sample(ref: weakref.ref, stop: threading.Event, interval_s: float) -> None:
        while not stop.wait(interval_s):
            meter = ref()
            if meter is None:
                return
            meter._peak = max(meter._peak, cpu_bytes())
            del meter

    def start(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._base = self._peak = cpu_bytes()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, args=(weakref.ref(self), self._stop, self.interval_s),
                                            name="neurokd-peak-rss", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            peak = max(self._peak, cpu_bytes()) - self._base
        self.peak_mb = round(peak / MIB, 1)
        return self.peak_mb

    def __enter__(self) -> PeakMemory:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["PeakMemory", "cpu_bytes", "rss_bytes"]
