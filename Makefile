# Botwerk: `make run` chats with the demo bot, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint unit faults bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Botwerk needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

run: $(VENV)/.installed          ## the whole mesh in one process: type, and the demo bot answers
	$(BIN)/botwerk up

test: lint unit                  ## everything CI runs

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(VENV)/.installed         ## pytest; broker tests skip without RabbitMQ unless BOTWERK_REQUIRE_BROKER=1
	$(BIN)/pytest

faults: $(VENV)/.installed       ## the fault-injection suite alone, then its figures into docs/reliability.md
	$(BIN)/pytest tests/faults
	$(BIN)/python bench/reliability_report.py

bench: $(VENV)/.installed        ## every benchmark, each against its baseline in the same run
	$(BIN)/python bench/echo_roundtrip.py
	$(BIN)/python bench/charrnn_generation.py
	$(BIN)/python bench/word2vec_queries.py
	$(BIN)/python bench/chat_decoding.py
	$(BIN)/python bench/chat_rl.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
