# The README's two commands: `make demo` (main job on the embedded default) and `make test`.
PYTHON ?= python3

.PHONY: install demo test lint

install:
	$(PYTHON) -m pip install -q -r requirements.txt
	@# Debian's chromium for the browser test of `feratt serve` (it skips without one).
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null; } || echo "chromium not installed: tests/serve/test_page.py will skip"
	$(PYTHON) -m pip install -q --no-build-isolation visdom==0.2.4

demo: install
	$(PYTHON) -m feratt demo

test: install
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src tests benchmarks scripts
	$(PYTHON) -m ruff format --check src tests benchmarks scripts
