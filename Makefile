# Botwerk: `make run` chats with the demo bot, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint doctest unit cluster faults bench compare clean

# Docstring examples run as tests (`make doctest`), every module of the package; the others
# are prose. tests/test_doctests.py fails on a `>>>` anywhere this does not run.
DOCTESTS := botwerk

# `make run` installs what running needs; `make test` also the platform SDKs and the test tools,
# in one pip run. No .pyc compiling at install (--no-compile): Python compiles what it imports.
PIP := $(BIN)/pip install --quiet --disable-pip-version-check --no-compile
CHECK_PYTHON := $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Botwerk needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }

$(VENV)/.run: pyproject.toml
	@$(CHECK_PYTHON)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	@touch $@

$(VENV)/.installed: pyproject.toml
	@$(CHECK_PYTHON)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[dev]'
	@touch $(VENV)/.run $@

run: $(VENV)/.run                ## the whole mesh in one process: type, and the demo bot answers
	$(BIN)/botwerk up

test: lint doctest unit cluster  ## everything CI runs

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

doctest: $(VENV)/.installed      ## the `>>>` examples in docstrings (seconds)
	$(BIN)/pytest --doctest-modules -p no:cacheprovider -q $(DOCTESTS)

# Three workers on two cores: the fault rows mostly wait (a broker paused for 60 s, a
# blackholed connection), so a third worker fills that time (the README gives the figures).
# One that runs out of tests takes some of another's (`worksteal`; the tests take from a
# second to 80). The 15 slowest are listed: where CI's time goes. `$(BIN)/pytest` alone runs
# in order.
unit: $(VENV)/.installed         ## pytest; broker tests skip without RabbitMQ unless BOTWERK_REQUIRE_BROKER=1
	$(BIN)/pytest -n 3 --dist worksteal -m "not cluster" --durations=15

# The cluster rows on their own, after the rest: three nodes and their mesh alone on the machine
# (about 8 minutes), not beside the single-node fault rows, whose timings they would disturb.
cluster: $(VENV)/.installed      ## the three-node cluster rows of the fault suite (tests/faults/test_cluster.py)
	$(BIN)/pytest -m cluster tests/faults/test_cluster.py

faults: $(VENV)/.installed       ## the fault-injection suite alone, then its figures into docs/reliability.md
	$(BIN)/pytest tests/faults
	$(BIN)/python bench/reliability_report.py

bench: $(VENV)/.installed        ## every benchmark, each against its baseline in the same run
	$(BIN)/python bench/echo_roundtrip.py
	$(BIN)/python bench/metrics_overhead.py
	$(BIN)/python bench/broker_cost.py
	$(BIN)/python bench/charrnn_generation.py
	$(BIN)/python bench/word2vec_queries.py
	$(BIN)/python bench/word2vec_analogies.py
	$(BIN)/python bench/billybard_words.py
	$(BIN)/python bench/chat_decoding.py
	$(BIN)/python bench/continuous_batching.py
	$(BIN)/python bench/chat_rl.py
	$(BIN)/python bench/rollout.py

# Not in `make bench`: about 4 minutes of its own, and it needs the bench extra.
compare: $(VENV)/.installed      ## the mesh against bare pika, Celery and Pyro5; figures into docs/performance.md
	$(BIN)/python bench/compare.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
