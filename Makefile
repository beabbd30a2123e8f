# DensePose Studio: the commands a contributor runs.
#   make app    install into .venv, then open the app on the built-in demo project
#   make test   install into .venv (and PostgreSQL's server binaries when missing), then run
#               the whole test suite
#   make lint   ruff + mypy
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PYOPENGL_PLATFORM ?= egl

.PHONY: install app demo test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

app: install
	$(BIN)/dpstudio app

test: install
	bash scripts/ensure_postgres.sh
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

test-fast: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check annotator model scripts tests
	$(BIN)/ruff format --check annotator model scripts tests
	$(BIN)/mypy annotator model

bench: install
	for b in scripts/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
