# histogan-lite: two commands on a fresh machine with python3 and make.
#   make book   set up .venv, execute every chapter, build the HTML book into _build/html
#   make test   set up .venv, run unit tests, execute every notebook (nbval + papermill)
#   make bench  run the benchmarks in benchmarks/ and print their tables
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.histogan-installed
# Headless: progress bars print plain text, widgets fall back to static output.
# (MPLBACKEND is deliberately not set: kernels must keep the inline backend so figures show.)
export HISTOGAN_HEADLESS = 1
unexport MPLBACKEND
PYTEST_ARGS ?=
# The book's root folder (holding _config.yml and _toc.yml); tests point it at a scratch book.
BOOK ?= .
SHELL := /bin/bash

.PHONY: setup book test bench clean help

help:
	@echo "make book   - set up .venv, execute every chapter, build the HTML book (_build/html/index.html)"
	@echo "make test   - set up .venv and run the unit tests and the notebook tests"
	@echo "make bench  - run benchmarks/ (results summarised in BENCHMARKS.md)"
	@echo "make clean  - remove _build/"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[book,test]'
	$(BIN)/python data_scripts/fetch_real_slide.py --quiet || echo "note: real CMU-1 slide not fetched; chapters use the demo slide"
	@touch $(STAMP)

setup: $(STAMP)

# Sphinx re-reads only changed chapters; a chapter's outputs also depend on the package and its shipped
# checkpoints, so when those are newer than the last build every chapter is executed again.
book: setup
	@if [ -f $(BOOK)/_build/.built ] && [ -n "$$(find histogan_lite -name __pycache__ -prune -o -newer $(BOOK)/_build/.built -print -quit)" ]; then \
	  echo "histogan_lite/ changed since the last build: every chapter is executed again"; rm -rf $(BOOK)/_build/.doctrees; fi
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build $(BOOK) 2>&1 | tee $(BOOK)/_build.log; test $${PIPESTATUS[0]} -eq 0 || { echo "book build failed (log: $(BOOK)/_build.log)"; exit 1; }; \
	$(BIN)/python data_scripts/book_summary.py --html $(BOOK)/_build/html --log $(BOOK)/_build.log --seconds $$(( $$(date +%s) - start ))
	@touch $(BOOK)/_build/.built

test: setup
	@bash tools/ensure_chromium.sh
	$(BIN)/python -m pytest --nbval-lax $(PYTEST_ARGS) tests book

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf _build _build.log
