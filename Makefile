# `make run` sets up and starts the product; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: setup index run chat test eval fit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: left to the resolver, torch would come as a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

index: setup
	$(BIN)/python build_index.py

run: index
	$(BIN)/python -m ui --host 127.0.0.1 --port $${GRADIO_SERVER_PORT:-7860}

chat: index
	$(BIN)/python -m bot

# axe-core audits the chat page in the browser tests (skipped where npm or chromium is missing).
AXE := node_modules/axe-core/axe.min.js
$(AXE):
	if command -v npm >/dev/null; then npm install --no-save --no-audit --no-fund --silent axe-core@4.14.1 \
	  || echo "npm could not install axe-core: the page's accessibility audit will be skipped"; \
	else echo "npm not found: the page's accessibility audit will be skipped"; fi

test: setup $(AXE)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) index/builds index/CURRENT index/.build.lock

# More libraries and sets to score, never fitted on: SHARED=DIR (skipped when the folder is not there).
SHARED ?= ../shared
eval: setup
	$(BIN)/python eval/evaluate.py --shared $(SHARED)

# Fits the re-ranker, answerability and intents on the project's own libraries (bot/data/models/).
fit: setup
	$(BIN)/python eval/fit.py

bench: index
	$(BIN)/python bench/bench.py
