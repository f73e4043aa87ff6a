"""ANN-to-SNN conversion: threshold balancing (Rueckauer et al. 2017) and QCFS (Bu et al., ICLR 2022).

- :mod:`neurokd.convert.topology`: a zoo twin's dataflow (weight layers, activations, identity shortcuts).
- :mod:`neurokd.convert.scales`: each activation's scale (a percentile of its outputs, or QCFS's threshold).
- :mod:`neurokd.convert.twin`: the SNN twin with rescaled weights and per-layer thresholds.
- :mod:`neurokd.convert.methods`: ``convert_model(ann, T, method, ...)``, the in-memory conversion.
- :mod:`neurokd.convert.calibration`: calibration batches and the input scale from a dataset.
- :mod:`neurokd.convert.init`: ``init_student_from_teacher`` (``distill.init: converted``).
- :mod:`neurokd.convert.run`: ``convert(cfg)``, the ``neurokd convert`` job writing a run folder.
"""

from neurokd.convert.init import init_student_from_teacher
from neurokd.convert.methods import METHODS, Conversion, convert_model
from neurokd.convert.run import ConvertResult, convert

__all__ = ["METHODS", "Conversion", "ConvertResult", "convert", "convert_model", "init_student_from_teacher"]
