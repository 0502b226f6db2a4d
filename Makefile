# Two commands on a fresh machine: `make demo` (the main experiment) and
# `make test`. Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/breastmnist-cgan
# Test worker processes (pytest-xdist), a file per worker at a time. On the
# 2-core CI machine much of a test is single-threaded tracing and compilation:
# the suite took 18 minutes with two workers (2026-11-27), 28 in one process
# the day before.
TEST_WORKERS ?= 2

.PHONY: install demo baseline test bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# medmnist declares torch/torchvision; we need only its metadata table
	# and (in tests) its evaluator, so it never brings them in.
	$(PY) -m pip install -q --no-deps 'medmnist>=3.0'
	touch $@

install: $(VENV)/.installed

# The paper's cGAN augmentation experiment on real BreastMNIST.
demo: install
	$(PY) -m medaug_jax.main --config=configs/cgan.py --workdir=$(WORKDIR)

# The no-augmentation baseline.
baseline: install
	$(PY) -m medaug_jax.main --config=configs/none.py --workdir=runs/breastmnist-none

test: install
	$(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(PY) -m medaug_jax.bench --out=runs/bench

clean:
	rm -rf .jax_cache .pytest_cache
