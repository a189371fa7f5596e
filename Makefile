# Two entry points (README): `make serve` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5006
PYTEST_ARGS ?=

.PHONY: serve test lint format lab bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps make re-installs happen only when pyproject.toml changes. The editable
# install matters: Dask worker processes must import compute/ by name.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lab]"
	touch $@ $(VENV)/.runtime

# Playwright cannot download its own browser here; Debian's chromium is used instead.
# curl runs the HTTP API's documented examples (tests/ui/test_http_api_docs.py).
/usr/bin/chromium /usr/bin/curl:
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(notdir $@)

serve: $(VENV)/.runtime
	$(BIN)/panel serve app.py --port $(PORT) --warm --liveness --websocket-compression-level 6 --plugins api

test: $(VENV)/.test /usr/bin/chromium /usr/bin/curl
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lab: $(VENV)/.test
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.test /usr/bin/chromium
	$(BIN)/python bench/kernels.py
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/movie.py
	$(BIN)/python bench/deep.py
	$(BIN)/python bench/deep_movie.py
	$(BIN)/python bench/deep_zoom.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# Our deep frames against the peer package fractalshades (bench/peer.py), installed in
# its own .venv-peer by bench/peer_setup.sh; not part of `test` or `bench`.
.PHONY: bench-peer
bench-peer: $(VENV)/.runtime
	bash bench/peer_setup.sh
	$(BIN)/python bench/peer.py
