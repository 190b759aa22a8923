# autodiff-lite: `make lab` to learn, `make test` to check everything.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# two workers, a notebook (or test file) each: CI has 2 cores
XDIST   := -n 2 --dist loadfile
NB_OPTS := --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

.PHONY: grading-selftest release lab fresh test unit notebooks-test solutions-test exercises-check grade exercises notebooks bench test-browser test-journey clean export test-interop interop-venv

# PyTorch is optional: the tests cross-check against it when installed. We take it only
# from a local CPU wheel (never the registry's multi-GB CUDA build).
TORCH_WHEELS ?= /opt/wheels
TORCH_STAMP  := $(VENV)/.torch

# what a student needs (make lab); make test adds the test and development tools
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

$(TORCH_STAMP): $(DEV_STAMP)
	@if ls $(TORCH_WHEELS)/torch-*+cpu-*.whl >/dev/null 2>&1; then \
	  echo "installing PyTorch from the local CPU wheel in $(TORCH_WHEELS), for the cross-checks"; \
	  $(BIN)/python -m pip install -q --no-index --find-links $(TORCH_WHEELS) --no-deps torch && \
	  $(BIN)/python -m pip install -q 'setuptools>=77' filelock 'typing-extensions>=4.10' \
	    'sympy>=1.13.3' 'networkx>=2.5.1' jinja2 'fsspec>=0.8.5' 2>&1 | grep -v 'is ignored' || true; \
	else echo "no local PyTorch CPU wheel in $(TORCH_WHEELS): the PyTorch cross-checks will be skipped"; fi
	touch $(TORCH_STAMP)

# as root (a container), JupyterLab refuses to start without --allow-root
LAB_OPTS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

# JupyterLab at the repository root (every lesson and exercise reachable), open on lesson 01;
# the student's answers go in work/ (git-ignored), copied from exercises/ the first time only
lab: $(STAMP)
	$(BIN)/python -m autodiff_lite.workcopy
	$(BIN)/jupyter lab $(LAB_OPTS) --ServerApp.root_dir=. notebooks/01_chain_rule.ipynb

# start one exercise notebook afresh: make fresh NB=01 (the old copy goes to work/previous/)
fresh: $(STAMP)
	@test -n "$(NB)" || { echo "make fresh: say which notebook, e.g. make fresh NB=01 (or NB=01_chain_rule)"; exit 2; }
	$(BIN)/python -m autodiff_lite.workcopy --fresh $(NB)

test: $(DEV_STAMP) $(TORCH_STAMP)
	$(BIN)/python -m pytest -q $(XDIST) tests
	$(MAKE) --no-print-directory notebooks-test solutions-test exercises-check grading-selftest test-browser
	$(MAKE) --no-print-directory test-hub

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -q tests

notebooks-test: $(DEV_STAMP)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest -q $(XDIST) --nbval $(NB_OPTS) notebooks; \
	else echo "notebooks-test: no lessons yet"; fi

solutions-test: $(DEV_STAMP)
	@if ls solutions/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest -q $(XDIST) --nbval-lax $(NB_OPTS) solutions; \
	else echo "solutions-test: no solutions yet"; fi

exercises-check: $(DEV_STAMP)
	$(BIN)/python -m autodiff_lite.grading build --check

# untouched exercises/ must score 0 ("not solved yet"), solutions/ graded as a submission full marks
grading-selftest: $(DEV_STAMP)
	$(BIN)/python -m autodiff_lite.grading selftest

# never over a student's work in exercises/ (answer cells edited) unless FORCE=1
exercises: $(STAMP)
	$(BIN)/python -m autodiff_lite.grading build $(if $(FORCE),--force)

# your copies in work/ by default; one notebook: make grade NB=01 (or NB=work/01_chain_rule.ipynb)
grade: $(STAMP)
	@nbs=""; for n in $(or $(NB),$(wildcard work/*.ipynb)); do \
	  if [ ! -e "$$n" ] && ls work/$$n*.ipynb >/dev/null 2>&1; then n=$$(ls work/$$n*.ipynb | head -n 1); fi; \
	  nbs="$$nbs $$n"; done; \
	if [ -z "$$nbs" ]; then \
	  echo "make grade: no work copy yet: work/ holds no exercise notebooks. Run make lab (it copies"; \
	  echo "exercises/ to work/ and opens JupyterLab), answer in work/NN_<topic>.ipynb, save, then make grade."; \
	  exit 1; fi; \
	$(BIN)/python -m autodiff_lite.grading grade $$nbs

# the course as a graded class receives it: no solutions/, no hidden tests (default DIR: ../<this folder>-class)
DIR ?= ../$(notdir $(CURDIR))-class
release: $(STAMP)
	$(BIN)/python -m autodiff_lite.grading release $(DIR)

# every lesson and solutions notebook, or only the one(s) given: make notebooks NB=solutions/01_chain_rule.ipynb
# (no per-cell timing metadata: a re-run's diff is its real changes)
NOTEBOOKS = $(or $(NB),notebooks/*.ipynb solutions/*.ipynb)
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=300 \
	  --ExecutePreprocessor.record_timing=False $(NOTEBOOKS)

# the exercises for a teacher's pipeline (docs/exports.md), into the ignored export/
export: $(STAMP)
	$(BIN)/python -m autodiff_lite.grading export --to nbgrader export/nbgrader
	$(BIN)/python -m autodiff_lite.grading export --to otter export/otter

# nbgrader and Otter-Grader in a venv of their own (requirements-interop.txt); the interop
# tests (part of `make test`'s unit run) make it themselves, or skip when it cannot be made
INTEROP := .venv-interop
$(INTEROP)/.installed: requirements-interop.txt
	test -x $(INTEROP)/bin/python || $(PY) -m venv $(INTEROP)
	$(INTEROP)/bin/python -m pip install -q -r requirements-interop.txt
	sha256sum requirements-interop.txt | cut -d' ' -f1 > $@
interop-venv: $(INTEROP)/.installed

test-interop: $(DEV_STAMP)
	$(BIN)/python -m pytest -q tests/test_export.py tests/test_export_interop.py tests/test_new_exercise.py

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

# every lesson run in real JupyterLab, then the student's journey from make lab to make grade
test-browser: $(DEV_STAMP)
	$(BIN)/python tests/browser_check.py
	$(MAKE) --no-print-directory test-journey

test-journey: $(DEV_STAMP)
	$(BIN)/python tests/journey_check.py

# a class on a real JupyterHub + proxy: installs them into .hub/ (never .venv), then tests/hub
.PHONY: test-hub
test-hub: $(DEV_STAMP)
	AUTODIFF_LITE_HUB_TEST=1 $(BIN)/python -m pytest -q -s tests/hub

clean:
	rm -rf $(VENV) $(INTEROP) .browser-check .bench-out export
