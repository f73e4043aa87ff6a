"""Chip profiles: cited YAML data files, one per target chip (:mod:`neurokd.hardware.chips.profile` reads and
validates them). The built-in chips are the YAML files in this folder; :func:`builtin_chips` lists them."""

from neurokd.hardware.chips.profile import (
    ARCH_KINDS,
    KINDS,
    ChipProfile,
    Constant,
    Model,
    ProfileError,
    Term,
    builtin_chips,
    load_profile,
    resolve_chip,
)

__all__ = ["ARCH_KINDS", "KINDS", "ChipProfile", "Constant", "Model", "ProfileError", "Term", "builtin_chips",
           "load_profile", "resolve_chip"]
