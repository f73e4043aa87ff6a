"""neurokd: distill trained ANNs into rate-aligned spiking networks and deploy them.

The public API (:mod:`neurokd.api`), imported on first use so that ``import neurokd`` stays light::

    import neurokd as nk

    teacher = nk.train_teacher(dataset="digits", arch="cnn", epochs=40, name="digits-teacher")
    student = nk.distill_snn(teacher.run_dir, method="blockwise", backprop="rate", T=4, name="digits-bw")
    nk.export_nir(student.model, "digits-bw.nir")

One installed namespace: the core (``neurokd.snn``, ``models``, ``data``, ``train``, ``distill``, ``eval``,
``stream``, ``runs``), the deployment packages built on it (``neurokd.exporters``: NIR, Lava/Loihi 2;
``neurokd.hardware``: SynOps, energy, chip fit) and the application on top (this package root, ``neurokd.cli``,
``neurokd.demo``). See docs/architecture.md.
"""

from neurokd.lazy import lazy_exports
from neurokd.version import __version__

# names never equal to a subpackage's: importing neurokd.distill would set neurokd.distill to the module
_API = ("distill_snn", "evaluate", "export_lava", "export_nir", "load_model", "load_nir", "report", "run_config",
        "save_model", "simulate", "stream_events", "train_snn", "train_teacher")
_MEMBERS = {
    **{name: "neurokd.api" for name in _API},
    "RunConfig": "neurokd.config", "DataConfig": "neurokd.config", "OptimConfig": "neurokd.config",
    "TrainConfig": "neurokd.config", "DistillConfig": "neurokd.config", "ModelSpec": "neurokd.models.spec",
    "NeuronSpec": "neurokd.models.spec", "Run": "neurokd.runs", "ConfigError": "neurokd.errors",
    "UserError": "neurokd.errors",
}
__getattr__, __dir__ = lazy_exports(__name__, _MEMBERS)
__all__ = ["__version__", *sorted(_MEMBERS)]
