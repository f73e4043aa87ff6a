# neurokd: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neurokd-setup
# torch first, from the exact CPU wheel: an unpinned torch (or a package needing another version) would pull
# several GB of CUDA wheels.
TORCH  := torch==2.13.0

.PHONY: setup demo test test-fast bench bench-gpu lint clean

setup: $(STAMP)

# lava-nc 0.10.0 / lava-dl 0.6.0 declare Python 3.10 only and pin numpy<2, torch<2.4: they are installed
# without their metadata's pins; their plain dependencies come from the `lava` extra (see docs/lava.md, "Installing Lava").
# neurobench 2.3.0 (the tests' independent SynOps checker) likewise goes in with --no-deps: its declared
# dependencies would pull torchaudio and another torch; it needs only snntorch, tqdm and numpy.
# onnx2pytorch declares torchvision (no CPU build for torch 2.13): --no-deps, its deps are in the `onnx` extra.
# norse 1.1.0 and spikingjelly 2.0.0 (tests: other NIR readers of our files) declare torchvision too, and
# spikingjelly also torchaudio, tensorboard and SciencePlots: --no-deps. The NIR paths used
# (norse.torch.from_nir, spikingjelly.activation_based.nir_exchange) import none of them; they need nir,
# nirtorch, numpy, h5py, matplotlib, tqdm, packaging (installed already) and loguru (`dev` extra).
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(TORCH)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev,lava,onnx]'
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --ignore-requires-python \
		lava-nc==0.10.0 lava-dl==0.6.0
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps neurobench==2.3.0
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps onnx2pytorch==0.6.0
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps norse==1.1.0 spikingjelly==2.0.0
	@touch $(STAMP)

demo: setup
	$(BIN)/neurokd demo

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/throughput.py --heap-reuse
	$(BIN)/python benchmarks/contention.py
	$(BIN)/python benchmarks/stream.py
	$(BIN)/python benchmarks/nir_roundtrip.py
	$(BIN)/python benchmarks/counting_overhead.py
	$(BIN)/python benchmarks/lava_sim.py
	$(BIN)/python benchmarks/kd.py --dataset mnist1d --epochs 40
	$(BIN)/python benchmarks/kd.py --dataset digits
	$(BIN)/python benchmarks/ratebp_gradients.py
	$(BIN)/python benchmarks/ratebp_memory.py
	$(BIN)/python benchmarks/methods.py --dataset mnist1d --seeds 0 1 2 3 4 --ablations --ablation-T 2
	$(BIN)/python benchmarks/methods.py --dataset mnist1d --recipe paper --seeds 0 1 2 --T 2 \
		--methods none response response+feature blockwise_rate
	$(BIN)/python benchmarks/methods.py --dataset mnist1d --seeds 0 --T 2 --epochs 36 --tag e36 \
		--methods none response+feature blockwise_rate
	$(BIN)/python benchmarks/methods.py --dataset mnist1d --arch cnn1d --seeds 0 1 2
	$(BIN)/python benchmarks/methods.py --dataset digits --seeds 0 1 2

# One-shot GPU run (< 8 minutes on one H100): benchmarks/results/*_cuda.json. GPU_PYTHON must have a CUDA build
# of torch; without a GPU the script prints one line and exits with code 2. CPU CI never runs it.
GPU_PYTHON ?= $(BIN)/python
bench-gpu:
	PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) benchmarks/gpu.py

lint: setup
	$(BIN)/ruff check neurokd exporters hardware tests benchmarks examples

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
