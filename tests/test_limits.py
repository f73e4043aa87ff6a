"""Limits: defaults, environment overrides, and refusals that carry the estimate."""

import pytest

from neurokd.errors import ConfigError, ResourceError
from neurokd.limits import GiB, Limits, check_count, check_memory, fmt_bytes, limits


def test_defaults_and_overrides(monkeypatch):
    assert limits() == Limits()
    monkeypatch.setenv("NEUROKD_MEMORY_GIB", "0.5")
    monkeypatch.setenv("NEUROKD_MAX_WINDOWS", "12")
    assert limits().memory_bytes == GiB // 2 and limits().windows == 12


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "lots"])
def test_bad_overrides_are_one_line_errors(monkeypatch, value):
    monkeypatch.setenv("NEUROKD_MAX_DEPTH", value)
    with pytest.raises(ConfigError, match=f"NEUROKD_MAX_DEPTH={value!r}: expected a positive number"):
        limits()


def test_refusals_carry_the_estimate_and_the_fix(monkeypatch):
    check_memory(16 * GiB, "x", "fix")  # at the limit: fine
    with pytest.raises(ResourceError, match=r"^x needs about 16 GiB, more than the 16 GiB memory limit; smaller "
                                            r"\(or raise NEUROKD_MEMORY_GIB\)$"):
        check_memory(16 * GiB + 1, "x", "smaller")
    with pytest.raises(ResourceError, match=r"w: 1e\+09 is over the limit of 10,000,000; shorter"):
        check_count(10**9, "windows", "w", "shorter")
    assert fmt_bytes(1536) == "1.5 KiB" and fmt_bytes(3) == "3 bytes"
