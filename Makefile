# The first two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.faultlens-installed
DEMO   ?= corpora/examples/demo_lr_too_high.py

.PHONY: install demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch is pinned and installed first: an unpinned torch pulls gigabytes of CUDA wheels.
$(STAMP): $(PY) pyproject.toml
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# `faultlens run` exits 1 when it finds a fault, which is what the demo shows: only 2 (bad input)
# and 3 (inconclusive) fail the target.
demo: install
	$(VENV)/bin/faultlens run $(DEMO) --max-seconds 60; status=$$?; [ $$status -le 1 ]

test: install
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --timeout 900 tests

bench: install
	$(PY) benchmarks/lint_speed.py
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/accuracy.py

clean:
	rm -rf $(VENV) .faultlens build *.egg-info
