# The two commands README promises: `make run` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
LAYERLAB_MAX_UPLOAD_MB ?= 200
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup run run-shared test test-fast lint bench clean lock

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(BIN)/streamlit run server.py --server.port $(PORT) --server.headless true \
		--server.maxUploadSize $(LAYERLAB_MAX_UPLOAD_MB) --browser.gatherUsageStats false --server.fileWatcherType none \
		--client.toolbarMode minimal

# Public demo: each browser session sees only its own runs, and no traceback reaches a visitor.
run-shared: setup
	LAYERLAB_SHARED=1 $(BIN)/streamlit run server.py --server.port $(PORT) --server.headless true \
		--server.maxUploadSize $(LAYERLAB_MAX_UPLOAD_MB) --browser.gatherUsageStats false --server.fileWatcherType none \
		--client.showErrorDetails none --client.toolbarMode viewer

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two processes, one test file each at a time (`--dist loadfile` keeps a file's module fixtures, such as its
# trained run, in one process): much of a page or browser test waits on a worker, a child process or the
# browser. About 20 min on 2 cores with images, text, Ray and data-parallel tests (16.7-20.5 min; docs/PERFORMANCE.md,
# "Test suite"); three processes were no faster, and the shared-mode browser tests' clicks then timed out.
test: setup lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

test-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e and not slow"

bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/textbook_speed.py

lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^layerlab' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
