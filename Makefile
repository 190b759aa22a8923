# autodiff-lite: `make lab` to learn, `make test` to check everything.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NB_OPTS := --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

.PHONY: lab test unit notebooks-test solutions-test exercises-check grade exercises notebooks bench test-browser clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/01_chain_rule.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	$(MAKE) --no-print-directory notebooks-test solutions-test exercises-check test-browser

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

notebooks-test: $(STAMP)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest -q --nbval $(NB_OPTS) notebooks; \
	else echo "notebooks-test: no lessons yet"; fi

solutions-test: $(STAMP)
	@if ls solutions/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest -q --nbval-lax $(NB_OPTS) solutions; \
	else echo "solutions-test: no solutions yet"; fi

exercises-check: $(STAMP)
	@if $(BIN)/python -c 'import autodiff_lite.grading' 2>/dev/null; then \
	  $(BIN)/python -m autodiff_lite.grading build --check; \
	else echo "exercises-check: no grading package yet"; fi

exercises: $(STAMP)
	$(BIN)/python -m autodiff_lite.grading build

NB ?= exercises/*.ipynb
grade: $(STAMP)
	$(BIN)/python -m autodiff_lite.grading grade $(NB)

notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb solutions/*.ipynb

bench: $(STAMP)
	$(BIN)/python bench/run.py

test-browser: $(STAMP)
	@if [ -f tests/browser_check.py ]; then $(BIN)/python tests/browser_check.py; \
	else echo "test-browser: no browser check yet"; fi

clean:
	rm -rf $(VENV) .browser-check .bench-out
