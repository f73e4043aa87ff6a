"""ANN-to-SNN conversion: threshold balancing (Rueckauer et al. 2017) and QCFS (Bu et al., ICLR 2022).

- :mod:`neurokd.convert.names`: the method names.
- :mod:`neurokd.convert.topology`: a zoo twin's dataflow (weight layers, activations, identity shortcuts).
- :mod:`neurokd.convert.scales`: each activation's scale (a percentile of its outputs, or QCFS's threshold).
- :mod:`neurokd.convert.twin`: the SNN twin with rescaled weights and per-layer thresholds.
- :mod:`neurokd.convert.methods`: ``convert_model(ann, T, method, ...)``, the in-memory conversion.
- :mod:`neurokd.convert.calibration`: calibration batches and the input scale from a dataset.
- :mod:`neurokd.convert.init`: ``init_student_from_teacher`` (``distill.init: converted``).
- :mod:`neurokd.convert.run`: ``convert(cfg)``, the ``neurokd convert`` job writing a run folder.

Members are imported on first use, so ``neurokd.convert.names`` (``METHODS``) is light.
"""

from neurokd.lazy import lazy_exports

_MEMBERS = {
    "METHODS": "neurokd.convert.names", "Conversion": "neurokd.convert.methods",
    "convert_model": "neurokd.convert.methods", "init_student_from_teacher": "neurokd.convert.init",
    "ConvertResult": "neurokd.convert.run", "convert": "neurokd.convert.run",
    "teacher_data": "neurokd.convert.run",
}
__getattr__, __dir__ = lazy_exports(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
