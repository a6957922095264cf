# hookrun: `make run` starts the local stack; `make test` runs every offline check.
# Both install what they need: uv (pinned, in .tools/) and the locked environment (.venv/).

SHELL := /bin/bash
UV_VERSION := 0.13.8
CHECKOV_VERSION := 3.3.30
BANDIT_VERSION := 1.9.4
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3
export SAM_CLI_TELEMETRY := 0
PORT ?= 3000
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint types pytest requirements validate scan bench fuzz screenshot clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras
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

# src/requirements.txt is what `sam build` installs into the functions: the lockfile's runtime part.
requirements: .venv/.synced
	@$(UV) export --frozen --no-dev --no-emit-project --no-hashes --no-header -o src/requirements.txt.new >/dev/null
	@if ! cmp -s src/requirements.txt src/requirements.txt.new; then \
	  mv src/requirements.txt.new src/requirements.txt; \
	  if [ -n "$$CI" ]; then echo "src/requirements.txt was stale: run 'make requirements' and commit it"; exit 1; fi; \
	else rm src/requirements.txt.new; fi

# `sam validate --lint` (needs no AWS account; SAM CLI runs in its own uv tool environment).
validate: $(UV)
	AWS_DEFAULT_REGION=eu-west-1 $(UV) tool run --from aws-sam-cli==1.170.0 sam validate --lint

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

# The property tests with 10,000 examples each (`make test` runs 200, derandomized), and schemathesis against the
# API's OpenAPI schema on the local stack with 500 examples per operation (`make test` runs 10).
fuzz: .venv/.synced
	HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest -n 2 -m fuzz tests/fuzz $(PYTEST_ARGS)
	SCHEMATHESIS_EXAMPLES=500 .venv/bin/pytest -p no:xdist tests/e2e/test_schemathesis.py $(PYTEST_ARGS)

clean:
	rm -rf .venv .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
