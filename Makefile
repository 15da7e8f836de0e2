# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-postgres lint setup setup-dev clean bench bench-request bench-cpu bench-admin bench-audit bench-migrate image-check reliability

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

## run: set up, create data/ltplabs.db with sample clients if missing, print a staff login, serve on :3000
run: setup
	DJANGO_DEBUG=1 $(PY) manage.py initdb --sample 1000
	DJANGO_DEBUG=1 $(PY) manage.py create_dev_staff
	DJANGO_DEBUG=1 PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py ltplabs.wsgi

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) -W ignore::RuntimeWarning manage.py makemigrations --check --dry-run

## test: lint, then the whole suite on SQLite and, beside it, on a throwaway PostgreSQL 15
test: setup-dev lint
	scripts/test-both.sh $(VENV)/bin/pytest
	@echo "The admin's screenshots (tests/test_browser.py, Chromium at 1366 and 1400 px, light and dark): test-artifacts/screenshots/ (PostgreSQL: screenshots-postgres/)"

## test-postgres: the whole suite with DATABASE_URL on a throwaway PostgreSQL 15 (scripts/with-postgres.sh)
test-postgres: setup-dev
	scripts/with-postgres.sh $(VENV)/bin/pytest -q

## bench-migrate: migrate_to_postgres of 100,000 sample clients to a throwaway PostgreSQL 15
bench-migrate: setup-dev
	bench/migrate_to_postgres.sh 100000

## bench: the gateway under gunicorn beside the Express peer (../shared/peers/express), W1-W5 with wrk; see bench/README.md
bench: setup-dev
	$(PY) bench/run.py

## bench-request: one API request's time through the WSGI application in-process (POST /api/clients, reads); see bench/README.md
bench-request: setup-dev
	$(PY) bench/request_profile.py

bench-cpu: setup-dev
	$(PY) bench/worker_cpu.py

## bench-audit: deep audit-log pages (API and admin) on 2,000,000 rows (bench/data/audit-2m.db, made once)
bench-audit: setup
	$(PY) bench/audit_pages.py --rows 2000000 --depth 1900000

## bench-admin: each staff admin page's time on 100,000 sample clients (bench/data/admin-100k.db, made once)
bench-admin: setup
	$(PY) bench/admin_pages.py --clients 100000

## reliability: run the fault, attack and schemathesis tests and regenerate docs/reliability.md from what they saw
reliability: setup-dev
	$(PY) scripts/reliability_report.py

## image-check: outside CI, as root: build the image with podman (Debian base from debootstrap), serve /health from a volume
image-check:
	bash scripts/image-check.sh

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
