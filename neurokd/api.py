"""The public Python API: the whole job in a few calls, on the same functions the ``neurokd`` command runs.

::

    import neurokd as nk

    teacher = nk.train_teacher(dataset="digits", arch="cnn", epochs=40, name="digits-teacher")
    student = nk.distill_snn(teacher.run_dir, method="blockwise", backprop="rate", T=4, name="digits-bw")
    nk.export_nir(student.model, "digits-bw.nir")
    print(nk.evaluate("runs/digits-bw")["acc"])

Function names never repeat a subpackage's (``neurokd.distill``, ``neurokd.stream`` are modules). Settings are
keyword arguments: a config key's own name where it is unique (``lr``, ``width``, ``alpha``), the
command line's short names (``dataset``, ``arch``, ``T``, ``epochs``, ``batch_size``, ``backprop``, ``teacher``,
``method``), a whole section (``model={"width": 32}``, ``optim=OptimConfig(...)``) or a dotted key as a dict entry
(``**{"model.neuron.beta": 0.9}``). Every value is validated; a bad one is a :class:`~neurokd.errors.ConfigError`
naming its key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurokd.config import RunConfig
from neurokd.configlib import build_config, leaf_fields
from neurokd.errors import ConfigError

# Short names, as on the command line (``--dataset``, ``--T``, ...), for the most used keys.
ALIASES: dict[str, str] = {
    "dataset": "data.name", "data_root": "data.root", "arch": "model.arch", "kind": "model.kind", "T": "model.T",
    "epochs": "optim.epochs", "lr": "optim.lr", "batch_size": "data.batch_size", "device": "train.device",
    "backprop": "train.backprop", "progress": "train.progress", "teacher": "distill.teacher",
    "method": "distill.method",
}


def _leaf_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for dotted, _tp, _f in leaf_fields(RunConfig):
        names.setdefault(dotted.rsplit(".", 1)[-1], []).append(dotted)
    return names


def config_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """Keyword settings as dotted config keys (see the module docstring); unknown or ambiguous names are a
    ConfigError that lists what they could mean."""
    sections = {f.name for f in dataclasses.fields(RunConfig)}
    leaves = _leaf_names()
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if "." in key or key in ("name", "out_dir", "seed"):
            out[key] = value
        elif key in sections:
            section = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
            if not isinstance(section, dict):
                raise ConfigError(f"config key '{key}': expected a mapping of keys or a {key} config object, "
                                  f"got {value!r}")
            out.update({f"{key}.{k}": v for k, v in section.items()})
        elif key in ALIASES:
            out[ALIASES[key]] = value
        elif len(leaves.get(key, [])) == 1:
            out[leaves[key][0]] = value
        elif key in leaves:
            raise ConfigError(f"setting '{key}' is ambiguous: say which of {', '.join(leaves[key])} "
                              f"(e.g. **{{'{leaves[key][0]}': ...}})")
        else:
            raise ConfigError(f"setting '{key}': no config key has this name (see `neurokd train --help`)")
    return out


def run_config(files: Iterable[str | Path] = (), **settings: Any) -> RunConfig:
    """A validated :class:`~neurokd.config.RunConfig` from YAML ``files`` (later wins) and keyword settings."""
    return build_config(RunConfig, list(files), config_overrides(settings))


def train_teacher(*, resume: bool = False, overwrite: bool = False, **settings: Any):
    """Train an ANN teacher (the ReLU twin) with cross-entropy; returns a
    :class:`~neurokd.train.loop.TrainResult` (``run_dir``, ``model``, ``summary``)."""
    return _train({**settings, "kind": "ann"}, resume, overwrite)


def train_snn(*, resume: bool = False, overwrite: bool = False, **settings: Any):
    """Train a spiking network from scratch (cross-entropy; ``backprop="bptt"`` or ``"rate"``)."""
    return _train({**settings, "kind": "snn"}, resume, overwrite)


def _train(settings: dict[str, Any], resume: bool, overwrite: bool):
    from neurokd.train import run_training

    overrides = config_overrides(settings)
    return run_training(build_config(RunConfig, overrides=overrides), resume=resume, overwrite=overwrite,
                        changes=overrides)


def distill_snn(teacher: Any = None, *, method: str = "response", resume: bool = False, overwrite: bool = False,
                **settings: Any):
    """Distill ``teacher`` into a spiking student: a run folder, a model / state-dict / ONNX file path, or any
    ``nn.Module`` (then pass ``teacher_arch`` or nothing; the module is not recorded in the run folder). ``method``:
    response, feature, response+feature or blockwise; ``backprop="rate"`` for rate-based backprop."""
    from neurokd.distill import distill as run_distill

    module = teacher if teacher is not None and not isinstance(teacher, str | Path) else None
    if teacher is not None and module is None:
        settings["teacher"] = str(teacher)
    overrides = config_overrides({**settings, "method": method})
    return run_distill(build_config(RunConfig, overrides=overrides), teacher=module, resume=resume,
                       overwrite=overwrite, changes=overrides)


def evaluate(model: Any, split: str = "test", T: int | None = None, **data: Any) -> dict[str, Any]:
    """Accuracy and loss (``{"acc", "loss", "n"}``) of a run folder, model file, ``.nir`` / ``.net`` file or model
    on a split of its dataset (or the one ``dataset=`` / ``data.*`` settings name)."""
    from neurokd.sources import open_model

    source = open_model(model, T=T)
    return source.evaluate(source.split(split, data_overrides(data)))


def data_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """Keyword dataset settings (``dataset=``, ``data_root=``, ``batch_size=`` or ``data.*`` names) as
    ``data.*`` keys."""
    out = config_overrides(settings)
    bad = [k for k in out if not k.startswith("data.")]
    if bad:
        raise ConfigError(f"settings {', '.join(bad)}: only dataset settings (data.*) apply here")
    return out


def load_model(path: str | Path, map_location: str = "cpu"):
    """An ANN or SNN twin from a run folder, ``model.safetensors`` or a checkpoint (eval mode)."""
    from neurokd.runs import load_model as load

    return load(path, map_location)


def load_nir(path: str | Path, T: int | None = None):
    """A NIR graph file (ours or another library's) as a runnable SNN: ``model(x)`` takes ``[B, ...]`` (encoded
    over ``T`` steps, default the file's) or ``[T, B, ...]`` and returns the time-mean of the output ``[B, K]``."""
    from neurokd.sources import open_model

    return open_model(Path(path), T=T).model


def save_model(model: Any, path: str | Path) -> Path:
    """Write ``model`` (a neurokd twin) as a self-contained model file: weights plus its spec (safetensors)."""
    from neurokd.runs.checkpoint import save_model_file

    path = Path(path)
    save_model_file(path, model, model.spec.to_dict())
    return path


def export_nir(model: Any, path: str | Path, dt: float | None = None, compression: str | None = None,
               nir_version: str | None = None) -> Path:
    """Write an SNN (a twin, or a run folder / model file) as a NIR graph file; returns the path. A run's dataset
    is recorded in the graph's metadata (``data``), so ``evaluate``/``report`` of the file find it.
    ``nir_version="1.0.4"``: a file for readers that pin nir 1.0.4 (Sinabs, Rockpool; docs/nir.md)."""
    from neurokd.exporters.nir import save
    from neurokd.runs import Run

    run = Run.open(model) if isinstance(model, str | Path) else None
    return save(nir_graph(run.model() if run else model, dt, run), path, compression=compression,
                nir_version=nir_version)


def nir_graph(model: Any, dt: float | None = None, run: Any = None):
    """The NIR graph of an SNN twin (BatchNorm folded), with ``run``'s dataset (a :class:`~neurokd.runs.Run`)
    recorded in its metadata."""
    from neurokd.config import data_identity
    from neurokd.exporters.nir import to_nir
    from neurokd.exporters.nir.convention import DEFAULT_DT

    graph = to_nir(model, dt=DEFAULT_DT if dt is None else dt)
    if run is not None and run.has_config:
        graph.metadata["data"] = data_identity(run.config.data)
    return graph


def export_lava(model: Any, path: str | Path, calibration: Any = None, **options: Any):
    """Quantize an SNN to Loihi 2 fixed point and write it: a netx ``.net`` chain, or a ``.lava`` graph for
    residual networks (or when ``path`` ends in ``.lava``); returns the quantization report. Direct-encoded models
    need ``calibration`` inputs (or ``input_max=``) for the input range."""
    from neurokd.exporters.lava.export import to_lava

    return to_lava(_model(model), path, calibration=calibration, **options)[0]


def simulate(path: str | Path, inputs: Any, backend: str = "numpy", **options: Any):
    """Run an exported ``.net`` / ``.lava`` file on ``inputs`` (``[N, ...]``, or ``[T, N, ...]`` event frames) with the
    bit-accurate NumPy model or Lava's simulator; returns a :class:`~neurokd.exporters.lava.simulation.SimResult`."""
    from neurokd.exporters.lava import simulate as run_simulate

    return run_simulate(path, inputs, backend=backend, **options)


def report(model: Any, chips: Iterable[str] | None = None, teacher: Any = None, split: str = "test",
           out: str | Path | None = None, **data: Any):
    """Count SynOps / MACs of an SNN (a run folder, model file or ``.nir`` file) on a split of its dataset, price
    them on ``chips`` (default: every built-in profile) and check chip fit; writes ``report.{md,tex,json,png}`` to
    ``out`` when given. Returns the :class:`~neurokd.hardware.report.HardwareReport`."""
    from neurokd.hardware.analyse import analyse
    from neurokd.hardware.chips import builtin_chips
    from neurokd.hardware.report import write_report
    from neurokd.sources import open_model

    source = open_model(model)
    split_data = source.split(split, data_overrides(data))
    result = analyse(source.model, split_data.loader, list(chips or builtin_chips()),
                     teacher=None if teacher is None else _model(teacher), title=source.name)
    if out is not None:
        write_report(result, Path(out))
    return result


def stream_events(model: Any, events: str | Path, window_ms: float, backend: str = "torch", reset_every: int = 0,
                  **options: Any):
    """Stream an event file (``.npy``, N-MNIST ``.bin``, ``.aedat4``) through an SNN in ``window_ms`` windows,
    state carried across windows (cleared every ``reset_every`` windows, 0: never); returns the
    :class:`~neurokd.stream.runner.StreamReport` (a prediction and latency per window)."""
    from neurokd.registry import make_backend
    from neurokd.stream import open_events, run_stream

    source = model if isinstance(model, str | Path) and str(model).endswith(".net") else _model(model)
    b = make_backend(backend, source, **options)
    P, H, W = b.input_shape
    return run_stream(open_events(events, (W, H, P)), b, (W, H, P), int(round(window_ms * 1000)), 1, reset_every)


def _model(model: Any):
    """A twin from a twin, a run folder or a model file."""
    return load_model(model) if isinstance(model, str | Path) else model


__all__ = ["config_overrides", "distill_snn", "evaluate", "export_lava", "export_nir", "load_model", "load_nir",
           "report",
           "run_config", "save_model", "simulate", "stream_events", "train_snn", "train_teacher"]
