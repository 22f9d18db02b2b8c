# The two commands a new machine needs (see README):
#   make demo   the portal with demo data on the real stack: embedded PostgreSQL, the LiteLLM
#               proxy (installed on the first run), Celery when Redis answers (scripts/demo.py)
#   make test   lint, migration check and the whole test suite (PostgreSQL, Redis, LiteLLM, Chromium)
PY ?= python3
BIN := .venv/bin

.PHONY: demo test lint install test-services image-tree check-k8s langfuse-server test-langfuse

$(BIN)/python: pyproject.toml
	$(PY) -m venv .venv
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	touch $(BIN)/python

install: $(BIN)/python

# Ctrl-C stops everything it started. Ports: DEMO_PORT, DEMO_LITELLM_PORT, DEMO_POSTGRES_PORT.
# The supervisor needs only the standard library: it installs .venv (`make install`) and the
# proxy side by side on the first run.
demo:
	@$(PY) scripts/demo.py

lint: $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# What the tests need beyond the venv: the LiteLLM proxy in its own venv, Chromium for Playwright.
test-services: $(BIN)/python
	bash scripts/test-services.sh

# The soak (`pytest -m soak`, several minutes) is a step of its own in .ci/run.
test: lint test-services
	$(BIN)/pytest -m "not langfuse_real and not soak"

# The container image's file tree without Docker (the Dockerfile's steps): build/image/{app,venv}.
image-tree:
	bash scripts/build-image-tree.sh build/image

# Render the Kubernetes manifests and scan them with checkov.
check-k8s:
	bash scripts/check-k8s.sh


# The real Langfuse 4.16 (web + worker, ClickHouse engine, S3), built outside the clone and
# cached by the vendored tarball's hash (README, "The real Langfuse in tests").
langfuse-server: $(BIN)/python
	nice -n 10 bash scripts/langfuse-server/install.sh

test-langfuse: lint test-services langfuse-server
	$(BIN)/pytest -m langfuse_real
