"""Interrupt a training run part-way, the way a user's Ctrl-C would."""

from collections.abc import Callable

import pytest


def run_interrupted(monkeypatch, objective_cls: type, run: Callable[[], object], epoch: int = 3) -> None:
    """Call ``run()`` with ``objective_cls.start_epoch`` raising KeyboardInterrupt as ``epoch`` begins (so the
    epochs before it are checkpointed); the objective is restored afterwards."""
    real_start = objective_cls.start_epoch

    def interrupt(self, e, epochs):
        if e == epoch:
            raise KeyboardInterrupt
        real_start(self, e, epochs)

    monkeypatch.setattr(objective_cls, "start_epoch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(objective_cls, "start_epoch", real_start)
