"""``neurokd`` never imports ``exporters`` or ``hardware`` at module level (they depend on it)."""

import pkgutil
import subprocess
import sys

import neurokd


def test_neurokd_modules_do_not_import_exporters_or_hardware():
    mods = [m.name for m in pkgutil.walk_packages(neurokd.__path__, "neurokd.") if not m.name.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('exporters', 'hardware')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
