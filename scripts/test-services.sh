#!/usr/bin/env bash
# Make sure what the tests talk to is installed and running. Idempotent; quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL and Redis: the tests use the real servers on 127.0.0.1.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
  sleep 1
done

# Chromium for the browser tests (Debian's package; Playwright cannot download browsers here).
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# wrk, the load generator of bench/web.py (C, so it leaves the cores to the server it loads).
if ! command -v wrk >/dev/null; then
  echo "installing wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
# A Japanese font, so the Japanese pages' screenshots show text rather than empty boxes.
if ! fc-list :lang=ja 2>/dev/null | grep -q .; then
  echo "installing a Japanese font"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-ipafont-gothic >/dev/null
fi

# Microsoft's Adaptive Cards library (npm), which the tests use to validate the Teams card.
if [ ! -d tests/adaptivecards/node_modules/adaptivecards ]; then
  echo "installing the Adaptive Cards library"
  npm ci --prefix tests/adaptivecards --no-audit --no-fund --loglevel=error
fi

# The LiteLLM proxy, in its own virtualenv (its pins would fight the portal's).
bash scripts/litellm-proxy/install.sh

# The client libraries the reveal page's setup snippets are for (OpenAI, Anthropic, OpenAI
# Agents SDK), in a virtualenv of their own: the tests run each snippet through its library.
CLIENTS="openai==3.63.0 anthropic==2.17.0 openai-agents==0.25.0"
if [ "$(cat .client-venv/.installed 2>/dev/null)" != "$CLIENTS" ]; then
  echo "installing the setup snippets' client libraries"
  python3 -m venv .client-venv
  # shellcheck disable=SC2086
  .client-venv/bin/pip install --quiet --disable-pip-version-check $CLIENTS
  echo "$CLIENTS" > .client-venv/.installed
fi

# axe-core for the browser tests' accessibility check: test-only, never served by the portal.
AXE_VERSION=4.11.0
if [ ! -f .test-tools/node_modules/axe-core/axe.min.js ] \
  || ! grep -q "\"version\": \"$AXE_VERSION\"" .test-tools/node_modules/axe-core/package.json; then
  echo "installing axe-core $AXE_VERSION"
  mkdir -p .test-tools
  npm install --prefix .test-tools --no-save --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION"
fi
