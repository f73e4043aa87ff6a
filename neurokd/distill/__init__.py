"""ANN-to-SNN knowledge distillation: response KD, per-step KD, feature KD with adapters (KDSNN, seed 001) and
block-wise hybrid replacement (BRD, seed 000).

- :mod:`neurokd.distill.methods`: the method names.
- :mod:`neurokd.distill.losses`: ``response_kd`` (the one KD implementation), ``response_kd_per_step``,
  ``kd_term``, ``feature_l2``.
- :mod:`neurokd.distill.taps`: forward-hook feature recording at stage outputs or named modules.
- :mod:`neurokd.distill.adapters`: 1x1 conv / linear + BN and adaptive pooling between tap shapes.
- :mod:`neurokd.distill.teachers`: frozen teachers from run folders, state dicts, ONNX files or modules.
- :mod:`neurokd.distill.objective`: :class:`DistillObjective` for the training loop.
- :mod:`neurokd.distill.blockwise`: :class:`BlockwiseObjective`, block-wise hybrid replacement (seed 000).
- :mod:`neurokd.distill.run`: ``distill(cfg)``, the ``neurokd distill`` job (fresh or ``--resume``).

Members are imported on first use, so ``neurokd.distill.methods`` is light.
"""

from neurokd.lazy import lazy_exports

_MEMBERS = {
    "METHODS": "neurokd.distill.methods", "KD_METHODS": "neurokd.distill.methods",
    "BlockwiseObjective": "neurokd.distill.blockwise", "DistillObjective": "neurokd.distill.objective",
    "KDLoss": "neurokd.distill.losses", "feature_l2": "neurokd.distill.losses", "kd_term": "neurokd.distill.losses",
    "response_kd": "neurokd.distill.losses", "response_kd_per_step": "neurokd.distill.losses",
    "distill": "neurokd.distill.run", "load_teacher": "neurokd.distill.teachers",
}
__getattr__, __dir__ = lazy_exports(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
