# Two commands do everything: `make demo` (the annotator on a bundled episode) and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: demo test lint bench samples clean

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh
	bash scripts/bootstrap.sh

demo: $(STAMP)
	$(BIN)/sgtui demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/sgtui bench all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
