# `make demo` runs the main job, `make test` the tests (`make test-fast` the fast subset); all
# create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TINY_T5 := fixtures/tiny-t5/config.json
TINY_MT5 := fixtures/tiny-mt5/config.json
TINY_CAUSAL_LMS := $(foreach family,gpt2 opt llama qwen2 mistral,fixtures/tiny-$(family)/config.json)
TEMPLATES_STAMP := $(VENV)/.promptsource-templates

.PHONY: demo test test-fast lint install templates

install: $(STAMP)

# Real dependencies first (modern versions, requirements.txt), then AllenNLP without its stale pins,
# then this plugin in editable mode. Re-runs only when requirements.txt or setup.py change.
$(STAMP): requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps allennlp==2.10.1 allennlp-models==2.10.1
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	# Every allennlp command imports allennlp-models whole, and its NarrativeQA evaluation module
	# calls nltk.download("punkt", "wordnet") at import when punkt is missing: offline, every command
	# then prints download errors. This plugin never tokenizes with NLTK, so an empty punkt entry in
	# the venv's own NLTK data folder stops the attempt (docs/installation.md says how to get the real
	# data if you use NarrativeQA's metrics).
	mkdir -p $(VENV)/nltk_data/tokenizers/punkt
	touch $(STAMP)

# promptsource's templates, from its source archive on PyPI into the cache outside the clone
# ($$HINT_ALLENNLP_CACHE, or ~/.cache/hint_allennlp), its SHA-256 checked (docs/p3.md).
templates: $(TEMPLATES_STAMP)

$(TEMPLATES_STAMP): $(STAMP)
	$(BIN)/allennlp hint-p3-prepare --fetch-templates
	touch $(TEMPLATES_STAMP)

$(TINY_T5): $(STAMP) hint_allennlp/testing/tiny_t5.py
	$(BIN)/python -m hint_allennlp.testing.tiny_t5 fixtures/tiny-t5 --fixtures fixtures

$(TINY_MT5): $(STAMP) hint_allennlp/testing/tiny_mt5.py hint_allennlp/testing/tiny_t5.py fixtures/multilingual/text.txt
	$(BIN)/python -m hint_allennlp.testing.tiny_mt5 fixtures/tiny-mt5 --fixtures fixtures

$(TINY_CAUSAL_LMS): fixtures/tiny-%/config.json: $(STAMP) hint_allennlp/testing/tiny_causal_lm.py
	$(BIN)/python -m hint_allennlp.testing.tiny_causal_lm $* fixtures/tiny-$* --fixtures fixtures

# The style check (ruff.toml: ruff's formatter and linter, 100 columns), then the tests.
lint: $(STAMP)
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .

test: lint $(TEMPLATES_STAMP) $(TINY_T5) $(TINY_MT5) $(TINY_CAUSAL_LMS)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup tests

# The fast loop while editing: the style check, then the tests not marked `slow` (those that
# train, run an AllenNLP command or start processes). `make test` stays the full suite CI runs.
test-fast: lint $(TEMPLATES_STAMP) $(TINY_T5) $(TINY_MT5) $(TINY_CAUSAL_LMS)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not slow" tests

demo: $(STAMP) $(TINY_T5) $(TINY_CAUSAL_LMS)
	$(BIN)/python scripts/demo.py
