# The two commands a new machine needs (see README):
#   make demo   set up and run the portal with demo data (SQLite, tasks in-process)
#   make test   lint, migration check and the whole test suite (PostgreSQL, Redis, LiteLLM, Chromium)
PY ?= python3
BIN := .venv/bin
DEMO_ENV := DEBUG=1 DEMO_MODE=1
PORT ?= 8000

.PHONY: demo test lint install test-services langfuse-server test-langfuse

$(BIN)/python: pyproject.toml
	$(PY) -m venv .venv
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/python

install: $(BIN)/python

demo: $(BIN)/python
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	@echo "Portal with demo data: http://127.0.0.1:$(PORT)/  (choose a demo user on the sign-in page)"
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# What the tests need beyond the venv: the LiteLLM proxy in its own venv, Chromium for Playwright.
test-services: $(BIN)/python
	bash scripts/test-services.sh

test: lint test-services
	$(BIN)/pytest -m "not langfuse_real"

# The real Langfuse 4.16 (web + worker, ClickHouse engine, S3), built outside the clone and
# cached by the vendored tarball's hash (README, "The real Langfuse in tests").
langfuse-server: $(BIN)/python
	nice -n 10 bash scripts/langfuse-server/install.sh

test-langfuse: lint test-services langfuse-server
	$(BIN)/pytest -m langfuse_real
