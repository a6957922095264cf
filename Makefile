# hookrun: `make run` starts the local stack; `make test` runs every offline check.
# Both install what they need: uv (pinned, in .tools/) and the locked environment (.venv/).

SHELL := /bin/bash
UV_VERSION := 0.13.8
CHECKOV_VERSION := 3.3.30
SAM_VERSION := 1.170.0
SAM = $(UV) tool run --from aws-sam-cli==$(SAM_VERSION) sam
CONFIG_ENV ?= default
BANDIT_VERSION := 1.9.4
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3
export SAM_CLI_TELEMETRY := 0
PORT ?= 3000
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint types pytest requirements validate scan bench fuzz screenshot build deploy clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# The functions run on Python 3.12, so .venv and the tests do too when this machine has one (bin/python312 looks on
# PATH, through uv and under pyenv); else python3, said aloud. A new Makefile re-syncs, so a change here takes effect.
.venv/.synced: $(UV) pyproject.toml uv.lock Makefile
	@python="$$(bin/python312)" || { python=python3; \
	  echo "No Python 3.12 (the functions' runtime): .venv and the tests use $$(python3 --version) instead."; }; \
	UV_PYTHON="$$python" $(UV) sync --frozen --all-extras && \
	echo "Python of .venv and the tests: $$(.venv/bin/python --version) ($$python)"
	@touch $@

run: .venv/.synced
	.venv/bin/hookrun dev --port $(PORT)

test: .venv/.synced requirements lint types validate scan pytest

lint: .venv/.synced
	.venv/bin/ruff check src hookrun tests bench
	.venv/bin/ruff format --check src hookrun tests bench

types: .venv/.synced
	.venv/bin/mypy

pytest: .venv/.synced $(CHROMIUM)
	.venv/bin/pytest -n 2 $(PYTEST_ARGS)

# The run viewer's tests drive Debian's chromium with Playwright (never Playwright's own browser downloads).
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y chromium

# docs/run-page.png, the README's picture of the run page, taken by the browser test of a failing run.
screenshot: .venv/.synced $(CHROMIUM)
	HOOKRUN_DOCS_SCREENSHOT=1 .venv/bin/pytest -p no:xdist -q tests/e2e/test_ui.py -k failing_job

# layer/requirements.txt is what `sam build` installs into the functions' one layer: the lockfile's runtime part.
requirements: .venv/.synced
	@$(UV) export --frozen --no-dev --no-emit-project --no-hashes --no-header -o layer/requirements.txt.new >/dev/null
	@if ! cmp -s layer/requirements.txt layer/requirements.txt.new; then \
	  mv layer/requirements.txt.new layer/requirements.txt; \
	  if [ -n "$$CI" ]; then echo "layer/requirements.txt was stale: run 'make requirements' and commit it"; exit 1; fi; \
	else rm layer/requirements.txt.new; fi

# `sam validate --lint` (needs no AWS account; SAM CLI runs in its own uv tool environment).
validate: $(UV)
	AWS_DEFAULT_REGION=eu-west-1 $(SAM) validate --lint

# `sam build` with a Python 3.12 (the functions' runtime) first on PATH: bin/python312 finds one or says how to get
# one. The functions ship their own code; their dependencies ship once, in DependenciesLayer (layer/requirements.txt).
build: $(UV) requirements
	@python="$$(bin/python312)" || exit 1; \
	echo "sam build with $$("$$python" --version) ($$python)"; \
	PATH="$$(dirname "$$python"):$$PATH" $(SAM) build

# `sam build`, then `sam deploy`: guided the first time for a config env (its answers are saved in samconfig.toml),
# later with `--config-env` alone. Stops before deploying, saying what to do, without AWS credentials or a region.
deploy: build
	@options="$$(.venv/bin/python -m hookrun.deploy $(CONFIG_ENV))" || exit 1; \
	echo "sam deploy $$options"; \
	$(SAM) deploy $$options

# Figures, not a test: AWS calls per webhook, cold init, handler CPU, state transitions, the local stack under load.
# Prints one table and writes bench/results/<UTC time>.json and latest.json. BENCH_ARGS="--quick" or "--only NAME".
bench: .venv/.synced
	.venv/bin/python -m bench $(BENCH_ARGS)

# IaC and code scans (cfn-lint runs with the template tests). checkov reads the SAM resources of template.yaml
# directly (framework cloudformation); every check it skips names its reason in the resource's Metadata.
# bandit scans the Lambda code. Both run pinned, in their own uv tool environments, like `validate`.
scan: $(UV)
	$(UV) tool run --from checkov==$(CHECKOV_VERSION) checkov -f template.yaml --framework cloudformation \
	  --quiet --compact --skip-download
	$(UV) tool run --from bandit==$(BANDIT_VERSION) bandit -r src -q

# The property tests with up to 2,000 fresh examples each (`make test` runs 200, derandomized), then schemathesis
# against the API's OpenAPI schema on the local stack, up to 100 examples per operation (`make test` runs 10). Each
# property and each operation has a time budget, so it ends on time on a busy machine: about 12 minutes at most.
FUZZ_PROPERTY_SECONDS ?= 30
SCHEMATHESIS_OPERATION_SECONDS ?= 8
fuzz: .venv/.synced
	@echo "make fuzz: at most about 12 minutes ($(FUZZ_PROPERTY_SECONDS) s per property on 2 workers, then" \
	  "$(SCHEMATHESIS_OPERATION_SECONDS) s per API operation); started $$(date +%T)"
	HYPOTHESIS_PROFILE=fuzz FUZZ_PROPERTY_SECONDS=$(FUZZ_PROPERTY_SECONDS) \
	  .venv/bin/pytest -n 2 -m fuzz tests/fuzz $(PYTEST_ARGS)
	SCHEMATHESIS_EXAMPLES=100 SCHEMATHESIS_OPERATION_SECONDS=$(SCHEMATHESIS_OPERATION_SECONDS) \
	  .venv/bin/pytest -p no:xdist tests/e2e/test_schemathesis.py $(PYTEST_ARGS)
	@echo "make fuzz: done at $$(date +%T)"

clean:
	rm -rf .venv .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
