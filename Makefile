# The two set-up commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, so the CPU build on local disk is used instead of a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,text,explore,chem,music]"
	# MOSES data and reference metrics: without its dependencies (pomegranate does not build; nothing used needs it).
	$(PY) -m pip install -q --no-deps molsets
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vaekit train --out runs/demo
	@echo "pictures: runs/demo/*.png (samples, reconstructions, interpolation, traversal, training curves, latent map)"
	@echo "metrics:  runs/demo/metrics.json (test ELBO, NLL, bits/dim, active units); model: runs/demo/model"

test: $(STAMP)
	$(VENV)/bin/ruff check vaekit tests benchmarks
	$(PY) -m pytest -n 2 -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check vaekit tests benchmarks
	$(VENV)/bin/ruff format --check vaekit tests benchmarks

# Mutation testing of the maths modules ([tool.mutmut] in pyproject.toml); slow: not part of `make test`.
mutation: $(STAMP)
	$(PY) -m pip install -q -e ".[mutation]"
	$(PY) benchmarks/mutation.py

clean:
	rm -rf $(VENV) runs build *.egg-info mutants
