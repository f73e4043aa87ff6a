"""The demo, the application's end-to-end job: ``run_demo`` (digits: teacher, students, NIR, Lava, hardware
report) and ``run_dvs_pipeline`` (the same on event-camera data, with streaming)."""

from neurokd.demo.context import DemoContext
from neurokd.demo.dvs import run_dvs_pipeline
from neurokd.demo.run import STAGES, run_demo

__all__ = ["STAGES", "DemoContext", "run_demo", "run_dvs_pipeline"]
