"""The names of the distillation methods (``distill.method``), defined once for the config, the objectives and
the command line."""

KD_METHODS: tuple[str, ...] = ("response", "feature", "response+feature")  # DistillObjective's
DISTILL_METHODS: tuple[str, ...] = (*KD_METHODS, "blockwise")  # methods that need a teacher
METHODS: tuple[str, ...] = ("none", *DISTILL_METHODS)  # "none": cross-entropy only
