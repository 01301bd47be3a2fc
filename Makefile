# Two commands set everything up on a fresh machine:
#   make demo   installs into .venv and runs the offline demo suite
#   make test   installs into .venv (with test extras) and runs the tests
# CPU machines: torch is constrained to the CPU build (constraints-cpu.txt).
# GPU machines: make install CONSTRAINTS=   (empty: pip picks the CUDA build of torch)

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints-cpu.txt
EXTRAS ?= test,offline-model,tensorboard,ray,search,browser
# make test installs Chromium and its driver (Debian/Ubuntu packages) for the web page's browser
# test when they are missing and apt-get can run (root, or sudo without a password); BROWSER=0
# skips that, and the browser test then skips itself, saying why.
BROWSER ?= 1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench calibrate chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the distribution was called `harness` before it became `encoder-harness`: drop the old one, which owns the same command
	$(BIN)/python -m pip uninstall --quiet --yes harness 2>/dev/null || true
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "make: no apt-get: install Chromium and chromedriver yourself, or the browser test is skipped"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
	  || echo "make: apt-get could not install chromium chromium-driver: the browser test will be skipped"; \
	elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
	  || echo "make: apt-get could not install chromium chromium-driver: the browser test will be skipped"; \
	else echo "make: not root and no passwordless sudo: the browser test will be skipped"; fi

demo: install
	$(BIN)/harness run --suite demo
	@echo "web page: open results/demo/LEADERBOARD.html in a browser"

test: install $(if $(filter 1,$(BROWSER)),browser)
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pytest benchmarks -q -s --benchmark-disable-gc

clean:
	rm -rf $(VENV) results/demo

calibrate: install
	$(BIN)/python benchmarks/calibration.py

# fault injection (minutes; not part of `make test`): full disk (a 2 MB tmpfs, needs root), read-only
# results, kill -9 during run / report / leaderboard, tampered records and claims
chaos: install
	$(BIN)/python benchmarks/chaos.py
