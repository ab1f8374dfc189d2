# suanli: `make demo` runs the main job on embedded defaults, `make test` runs the checks.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# One venv; each target installs the extras it needs on top of what is there, once (a stamp
# per set, remade when pyproject.toml changes): `make demo` only lp (HiGHS, for the
# simulator's lower bounds), `make network` the server too, `make test` and `make bench`
# the dev tools (with Ray, for the Ray executor's tests) as well.
EXTRAS_demo    := lp
EXTRAS_network := lp,server
EXTRAS_dev     := dev,lp,server

.PHONY: demo network test lint typecheck imports pytest bench bench-check clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "suanli needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS_$*)]'
	@touch $@

demo: $(VENV)/.installed-demo
	@echo "== the catalogue: ten national clusters (inventories are illustrative) =="
	$(BIN)/suanli catalog sites
	@echo "== estimate: DeepSeek-V3 pre-training on 2,048 H800 (published: 2.664M H800-hours) =="
	$(BIN)/suanli estimate examples/deepseek-v3-pretrain.yaml --accelerator h800 --count 2048 --start 2025-01-01T00:00:00Z
	@mkdir -p out
	@echo "== simulate: 4,000 synthetic jobs on 3 % of the national network, seven policies side by side =="
	$(BIN)/suanli simulate --jobs 4000 --rate 300 --capacity 0.03 \
		-p fifo -p backfill -p cheapest -p carbon -p las -p gavel -p suanli --report out/report.html
	@for spec in examples/*.yaml; do \
		echo "== suanli plan $$spec =="; \
		$(BIN)/suanli plan $$spec --limit 6 || exit $$?; \
	done

network: $(VENV)/.installed-network
	$(BIN)/python examples/local_network.py $(if $(KEEP),--keep)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

imports: $(VENV)/.installed-dev
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n 2 --dist loadgroup -q

test: lint typecheck imports pytest bench-check

# each policy's mean JCT, carbon and cost on seeded scenarios against bench/outcomes.json
# (about 20 s; the scenarios that need ../shared/data skip without it)
bench-check: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_check.py

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/calibration.py
	$(BIN)/python bench/bench_sim.py
	$(BIN)/python bench/bench_control.py
	$(BIN)/python bench/bench_eta.py
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_dashboard.py
	$(BIN)/python bench/bench_pages.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
