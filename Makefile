# The README's two commands: `make demo` (main job on the embedded default) and `make test`.
PYTHON ?= python3

.PHONY: install demo test lint

install:
	$(PYTHON) -m pip install -q -r requirements.txt
	$(PYTHON) -m pip install -q --no-build-isolation visdom==0.2.4

demo: install
	$(PYTHON) -m feratt demo

test: install
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src tests benchmarks
	$(PYTHON) -m ruff format --check src tests benchmarks
