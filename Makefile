# Tasks named in CONTRIBUTING.md. Each runs the tool the dev extra installed in .venv; `make ci` is
# what CI runs on a clean clone (.ci/run installs everything first).
PY := .venv/bin/python

.PHONY: install lint typecheck layers deps unit functional integration fuzz test terraform bench demo ci

install:  ## the venv, torch's CPU wheel first (see README), then the project with every extra
	python3 -m venv .venv
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'

lint:  ## ruff, its formatter, the workflows
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/actionlint

typecheck:  ## mypy over what [tool.mypy] names
	.venv/bin/mypy

layers:  ## import-linter's contracts ([tool.importlinter])
	.venv/bin/lint-imports

deps:  ## declared dependencies against imports ([tool.deptry])
	.venv/bin/deptry .

unit:
	$(PY) -m pytest tests/unit -q

functional:
	$(PY) -m pytest tests/functional -q

integration:  ## starts and stops the emulators itself (gcloud, Java, Node needed)
	$(PY) -m pytest tests/integration -q

fuzz:  ## the fuzz tier, wider than in the suite (MLOPS_EVENTS_FUZZ_EXAMPLES per function)
	MLOPS_EVENTS_FUZZ_EXAMPLES=$${MLOPS_EVENTS_FUZZ_EXAMPLES:-500} $(PY) -m pytest tests/fuzz -q

test:  ## the README's test command
	$(PY) -m pytest

terraform:  ## fmt, validate, terraform test, checkov
	bash .ci/terraform-checks

bench:  ## the drift benchmark on the zoo; see benchmarks/ for the others
	$(PY) benchmarks/drift.py --dataset zoo --rows 200000

demo:  ## the main job on the embedded profile
	.venv/bin/mlops-events demo

ci:
	bash .ci/run
