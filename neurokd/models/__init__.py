"""ANN/SNN twin model zoo: ``build_model(spec)``; both twins share parameter names. Names:
:data:`~neurokd.models.spec.ARCHS`.

Members are imported on first use, so ``neurokd.models.spec`` (what the config needs) is light.
"""

from neurokd.lazy import lazy_exports

_MEMBERS = {
    "ARCHS": "neurokd.models.spec", "ModelSpec": "neurokd.models.spec", "NeuronSpec": "neurokd.models.spec",
    "TwinNet": "neurokd.models.base", "count_parameters": "neurokd.models.base",
    "BUILDERS": "neurokd.models.zoo", "build_model": "neurokd.models.zoo", "input_rank": "neurokd.models.zoo",
}
__getattr__, __dir__ = lazy_exports(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
