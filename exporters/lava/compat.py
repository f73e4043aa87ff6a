"""Make lava-nc 0.10.0 / lava-dl 0.6.0 importable on Python >= 3.11 with numpy 2, touching nothing installed.

Three kinds of problems, all fixed here in memory (site-packages is never modified):

1. ``lava/magma/compiler/var_model.py`` declares dataclass fields with instance defaults
   (``x: ByteEncoder = ByteEncoder()``). Python >= 3.11 rejects unhashable instance defaults with
   ``ValueError: mutable default ... use default_factory``, so ``import lava`` fails. :func:`install` compiles
   that one module from its own source with the defaults rewritten to ``field(default_factory=ByteEncoder)``
   and registers it in ``sys.modules`` before anything else imports it.
2. ``lava.lib.dl.slayer`` (imported by ``netx``) imports ``cv2`` and ``torchvision`` at package import, for
   its object-detection utilities only. No CPU torchvision exists for our torch, so while lava-dl is being
   imported, empty placeholder modules stand in for whichever of them is missing; they are removed from
   ``sys.modules`` right after, so other code never mistakes them for the real packages.

3. numpy 2 (Lava pins numpy < 2), two run-time failures:

   - Lava's ``ReshapePort`` (what netx uses to feed a flattened conv map into a dense layer) calls
     ``np.reshape(data, newshape=...)``, a keyword numpy 2.4 removed: every flatten layer fails with
     ``TypeError: reshape() got an unexpected keyword argument 'newshape'``. Its two transform methods are
     replaced in memory by positional-argument equivalents.
   - Lava's conv model stores kernel size, stride, padding, dilation and groups as ``int8`` and computes
     ``out_channels % groups``; under numpy 2's scalar rules a conv with >= 128 output channels fails with
     ``OverflowError: Python integer 128 out of bounds for int8``. ``lava.proc.conv.utils.conv`` is wrapped to
     pass those parameters as plain integers (the arithmetic is otherwise unchanged).

Caveat (multiprocessing): Lava runs every process model in a child process and, at import, calls
``multiprocessing.set_start_method("fork")``, which raises "context has already been set" once anything in the
process has touched multiprocessing (a tqdm progress bar is enough). :func:`install` lets that call pass when
the method already is ``fork``. With ``fork`` (the Linux default up to Python 3.13) the children inherit the
patched modules. Where another start method was chosen (``forkserver`` is the default from Python 3.14,
``spawn`` on macOS), children would re-import Lava unpatched, so :func:`install` refuses with a clear error;
use ``multiprocessing.set_start_method("fork")`` early, or install the fixes in children through a ``.pth``
file that calls :func:`install`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import io
import multiprocessing
import sys
import types
from collections.abc import Iterator

from neurokd.errors import UserError

_VAR_MODEL = "lava.magma.compiler.var_model"
# Only these modules are imported at lava-dl package import; nothing we call uses them.
_PLACEHOLDERS = ("cv2", "torchvision", "torchvision.ops", "torchvision.transforms")


def lava_available() -> bool:
    """True when lava-nc and lava-dl are installed (``make setup`` installs them)."""
    return all(importlib.util.find_spec(n) is not None for n in ("lava", "lava.lib.dl"))


def _patch_var_model() -> None:
    if _VAR_MODEL in sys.modules:
        return
    spec = importlib.util.find_spec(_VAR_MODEL)
    if spec is None or spec.origin is None:
        raise UserError("Lava is not installed: run `make setup` (installs lava-nc 0.10.0 and lava-dl 0.6.0)")
    with open(spec.origin, encoding="utf-8") as fh:
        src = fh.read()
    fixed = src.replace("= ByteEncoder()", "= field(default_factory=ByteEncoder)")
    fixed = fixed.replace("from dataclasses import dataclass, InitVar",
                          "from dataclasses import dataclass, InitVar, field", 1)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_VAR_MODEL] = module
    try:
        exec(compile(fixed, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[_VAR_MODEL]
        raise


def _reshape(data, shape):
    return data.reshape(shape)


def _patch_reshape_port() -> None:
    from lava.magma.core.process.ports.ports import ReshapePort

    if getattr(ReshapePort, "_neurokd_patched", False):
        return
    ReshapePort.get_transform_func_fwd = lambda self: functools.partial(_reshape, shape=self.shape)
    ReshapePort.get_transform_func_bwd = lambda self: functools.partial(_reshape, shape=self.old_shape)
    ReshapePort._neurokd_patched = True


def _patch_conv_int8() -> None:
    from lava.proc.conv import utils

    if getattr(utils.conv, "_neurokd_patched", False):
        return
    original = utils.conv

    def conv(input_, weight, kernel_size, stride, padding, dilation, groups):
        def as_int(v):
            return [int(x) for x in v]

        return original(input_, weight, as_int(kernel_size), as_int(stride), as_int(padding), as_int(dilation),
                         int(groups))

    conv._neurokd_patched = True
    utils.conv = conv


@contextlib.contextmanager
def _fork_start_method() -> Iterator[None]:
    """Let Lava's import-time ``set_start_method("fork")`` pass when ``fork`` is already in effect."""
    current = multiprocessing.get_start_method(allow_none=True)
    if current not in (None, "fork"):
        raise UserError(f"Lava needs the 'fork' multiprocessing start method, but this process uses {current!r}; "
                        "call multiprocessing.set_start_method('fork', force=True) before running Lava")
    original = multiprocessing.set_start_method

    def set_start_method(method, force=False):
        if multiprocessing.get_start_method(allow_none=True) == method:
            return
        original(method, force)

    multiprocessing.set_start_method = set_start_method
    try:
        yield
    finally:
        multiprocessing.set_start_method = original


@contextlib.contextmanager
def _placeholder_modules() -> Iterator[None]:
    added = []
    for name in _PLACEHOLDERS:
        if name in sys.modules:
            continue
        parent = name.partition(".")[0]
        if parent not in added and importlib.util.find_spec(parent) is not None:
            continue  # the real package exists: let it import normally
        mod = types.ModuleType(name)
        mod.__doc__ = "neurokd placeholder while lava-dl imports (see neurokd.exporters.lava.compat)"
        sys.modules[name] = mod
        added.append(name)
        if "." in name:
            setattr(sys.modules[parent], name.rpartition(".")[2], mod)
    try:
        yield
    finally:
        for name in reversed(added):
            sys.modules.pop(name, None)


def install() -> None:
    """Apply the fixes and import lava-dl's ``netx``; idempotent. Call before any ``lava`` import."""
    if not lava_available():
        raise UserError("Lava is not installed: run `make setup` (installs lava-nc 0.10.0 and lava-dl 0.6.0)")
    _patch_var_model()
    with _fork_start_method():
        importlib.import_module("lava.magma.runtime.message_infrastructure.multiprocessing")
    _patch_reshape_port()
    _patch_conv_int8()
    # lava-dl prints a notice about an optional dataset toolbox on import; keep stdout clean
    with _placeholder_modules(), contextlib.redirect_stdout(io.StringIO()):
        importlib.import_module("lava.lib.dl.netx")
        importlib.import_module("lava.lib.dl.slayer")
