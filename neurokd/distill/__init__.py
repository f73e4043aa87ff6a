"""ANN-to-SNN knowledge distillation: response KD, per-step KD, feature KD with adapters (KDSNN, seed 001) and
block-wise hybrid replacement (BRD, seed 000).

- :mod:`neurokd.distill.losses`: ``response_kd`` (the one KD implementation), ``response_kd_per_step``,
  ``kd_term``, ``feature_l2``.
- :mod:`neurokd.distill.taps`: forward-hook feature recording at stage outputs or named modules.
- :mod:`neurokd.distill.adapters`: 1x1 conv / linear + BN and adaptive pooling between tap shapes.
- :mod:`neurokd.distill.teachers`: frozen teachers from run folders, state dicts, ONNX files or modules.
- :mod:`neurokd.distill.objective`: :class:`DistillObjective` for the training loop.
- :mod:`neurokd.distill.blockwise`: :class:`BlockwiseObjective`, block-wise hybrid replacement (seed 000).
- :mod:`neurokd.distill.run`: ``distill(cfg)``, the ``neurokd distill`` job (fresh or ``--resume``).
"""

from neurokd.distill.blockwise import BlockwiseObjective
from neurokd.distill.losses import KDLoss, feature_l2, kd_term, response_kd, response_kd_per_step
from neurokd.distill.objective import METHODS, DistillObjective
from neurokd.distill.run import distill
from neurokd.distill.teachers import load_teacher

__all__ = ["METHODS", "BlockwiseObjective", "DistillObjective", "KDLoss", "distill", "feature_l2", "kd_term", "load_teacher",
           "response_kd", "response_kd_per_step"]
