"""Training: the loop, objectives, optimizers and checkpoints."""

from neurokd.train.loop import TrainResult, run_training
from neurokd.train.objective import Objective, StepOutput

__all__ = ["Objective", "StepOutput", "TrainResult", "run_training"]
