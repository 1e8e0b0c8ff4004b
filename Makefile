# Two entry points for a fresh machine: `make sweep` and `make test` (each installs what it needs).
PYTHON ?= python3
VENV ?= .venv
# torch first and pinned: here it resolves to a local CPU wheel; a plain `torch` would pull CUDA builds.
TORCH ?= torch==2.13.0
SPEC ?= search_spaces/size_vs_data.yaml
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install sweep report ui test test-fast bench clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

sweep: $(STAMP)
	$(VENV)/bin/xscale sweep $(SPEC)

# The report of the sweep SPEC names (its default folder, sweeps/<spec stem>).
report: $(STAMP)
	$(VENV)/bin/xscale report sweeps/$(basename $(notdir $(SPEC)))

# The MLflow UI over the default store, on this machine only.
ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/sweeps/mlflow.db --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not cluster and not browser" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m xscale.perf

clean-venv:
	rm -rf $(VENV)
