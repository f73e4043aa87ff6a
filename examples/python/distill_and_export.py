"""Distill a digits teacher into a block-wise, rate-BP spiking student and deploy it: NIR, Loihi 2, energy.

    python examples/python/distill_and_export.py [--epochs 30] [--out runs]

Everything here is the public API (``import neurokd as nk``); the same functions run behind ``neurokd teacher``,
``neurokd distill``, ``neurokd export`` and ``neurokd report``.
"""

from __future__ import annotations

import argparse

import neurokd as nk
from neurokd.config import DataConfig
from neurokd.data import load_split


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--out", default="runs", help="parent folder of the run folders")
    args = p.parse_args()

    teacher = nk.train_teacher(dataset="digits", arch="cnn", width=32, epochs=args.epochs, name="ex-teacher",
                               out_dir=args.out, overwrite=True)
    student = nk.distill_snn(teacher.run_dir, method="blockwise", backprop="rate", T=4, width=32,
                             epochs=args.epochs, name="ex-blockwise", out_dir=args.out, overwrite=True)
    print(f"teacher {teacher.summary['test_acc']:.4f}, blockwise student {student.summary['test_acc']:.4f}")

    nir_file = nk.export_nir(student.run_dir, student.run_dir / "model.nir")
    print(f"NIR file {nir_file}: test accuracy {nk.evaluate(nir_file)['acc']:.4f} (neurokd's importer)")

    calibration, _ = load_split(DataConfig(name="digits"), "train").tensors()
    quant = nk.export_lava(student.model, student.run_dir / "model.net", calibration=calibration)
    x, y = load_split(DataConfig(name="digits"), "test").tensors()
    fixed = nk.simulate(student.run_dir / "model.net", x.numpy())
    print(f"Loihi 2 fixed point: test accuracy {fixed.accuracy(y.numpy()):.4f} ({len(quant.layers)} layers)")

    report = nk.report(student.run_dir, chips=["loihi", "cmos-45nm"], teacher=teacher.run_dir,
                       out=student.run_dir / "report")
    energy = report.summary()["energy_uj"]
    print(f"SynOps/sample {report.snn.synops:.0f}; energy uJ/sample: "
          + ", ".join(f"{chip} {uj:.3g}" for chip, uj in energy.items() if uj is not None))


if __name__ == "__main__":
    main()
