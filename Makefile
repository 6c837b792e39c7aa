# The course's entry points. Each one sets up .venv by itself on a fresh machine and is
# quick when nothing changed (the install is redone only when pyproject.toml changes).
#
#   make course   run every notebook end to end (quick profile unless COURSE_PROFILE=full)
#   make test     unit tests + every notebook under nbval (quick profile)
#   make lab      JupyterLab on the notebooks (extra options: make lab LAB_ARGS="--port=8889 --no-browser")
#   make bench    benchmarks, ratios side by side
#   make backbone retrain the shipped CIFAR-10 backbone (resumes; a GPU takes minutes, a 2-core CPU 1-2 hours)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Real images: a folder laid out like ../shared/data, used when it sits beside the repository.
COURSE_DATA_DIR ?= $(abspath $(wildcard ../shared/data))
export COURSE_DATA_DIR
# Notebooks draw with Jupyter's inline backend (headless-safe); unit tests draw off-screen with Agg.
NOTEBOOK_BACKEND := module://matplotlib_inline.backend_inline
# Headless runs log one line per epoch instead of progress bars (fit honours TQDM_DISABLE).
HEADLESS := MPLBACKEND=$(NOTEBOOK_BACKEND) TQDM_DISABLE=1
export PYTHONUNBUFFERED := 1
# Extra options for `jupyter lab`; as root (a container, a cloud machine) Jupyter also needs --allow-root.
LAB_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: course test unit nbtest lab bench backbone sync clean help

help:
	@grep '^#   make ' Makefile

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

course: $(STAMP)
	COURSE_PROFILE=$${COURSE_PROFILE:-quick} $(HEADLESS) $(PY) tools/run_notebooks.py notebooks --out build

test: unit nbtest

unit: $(STAMP)
	COURSE_PROFILE=$${COURSE_PROFILE:-quick} MPLBACKEND=Agg $(PY) -m pytest tests

# Notebooks train into a fresh checkpoint folder so that nbval exercises training, not loading.
nbtest: $(STAMP)
	rm -rf build/test-checkpoints
	COURSE_PROFILE=$${COURSE_PROFILE:-quick} COURSE_CHECKPOINT_DIR=$(CURDIR)/build/test-checkpoints $(HEADLESS) \
		$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(ALLOW_ROOT) $(LAB_ARGS)

# B1-B5 side by side: one table (also build/bench.md) and build/bench.json. Some, or smaller: make bench BENCH_ARGS="B1 --steps 100"
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) benchmarks/run.py --command 'make bench$(if $(BENCH_ARGS), BENCH_ARGS="$(BENCH_ARGS)")' $(BENCH_ARGS)

# The course's own pretrained backbone: trains ResNet-20 on all 50,000 CIFAR-10 training images with a fixed
# recipe and seed, evaluates it once on the test split and exports it with its provenance to course_utils/weights.
# A longer schedule: make backbone BACKBONE_ARGS="--epochs 160" (its own checkpoint; the 40-epoch run is not resumed).
BACKBONE_ARGS ?=
backbone: $(STAMP)
	TQDM_DISABLE=1 $(PY) tools/train_backbone.py $(BACKBONE_ARGS)

# Regenerate what notebooks show but do not own: Colab bootstrap cells (from pyproject.toml), model cells
# (from course_utils.models) and the README course map (from each notebook's metadata).
sync: $(STAMP)
	$(PY) tools/sync_notebooks.py

clean:
	rm -rf build
