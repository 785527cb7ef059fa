# Two commands do everything: `make demo` (the annotator on a bundled episode) and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh
	bash scripts/bootstrap.sh

demo: $(STAMP)
	$(BIN)/sgtui demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Benchmarks print tables with their baselines; not part of CI (the ingest one takes minutes).
bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/encoders.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
