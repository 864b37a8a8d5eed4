# The two commands of the README: `make run` and `make test`. Both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= $(or $(UNION_TEST_DATABASE_URL),mysql+pymysql://root@127.0.0.1:3306/union_test)
TEST_REDIS_URL ?= $(or $(UNION_TEST_REDIS_URL),redis://127.0.0.1:6379/15)

.PHONY: run test test-embedded test-mariadb lint openapi schema clean portal portal-api screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# The OIDC peer of tests/identity/test_sso_oidc.py (oidc-provider, pinned by its package-lock.json); without
# node the OIDC tests skip with a reason.
OIDC_PEER := tests/peers/oidc
$(OIDC_PEER)/node_modules/.installed: $(OIDC_PEER)/package-lock.json
	@if command -v npm >/dev/null; then cd $(OIDC_PEER) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "未安装 node/npm：OIDC 测试将跳过"; fi

# The staff portal (portal/: Vue 3 + Vite, pinned by its package-lock.json), built into
# server/portal/dist when missing or older than its sources; without node the API runs alone and
# /portal/ says how to build it.
PORTAL_DIST := server/portal/dist
PORTAL_BUILT := $(PORTAL_DIST)/.built
PORTAL_SOURCES := $(shell find portal/src -type f 2>/dev/null) portal/index.html portal/vite.config.ts \
	portal/tsconfig.json portal/package.json
portal/node_modules/.installed: portal/package-lock.json
	@if command -v npm >/dev/null; then cd portal && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; fi
$(PORTAL_BUILT): portal/node_modules/.installed $(PORTAL_SOURCES)
	@if [ -f portal/node_modules/.installed ]; then cd portal && npm run --silent build && touch ../$(PORTAL_BUILT); \
	else echo "未安装 node/npm：门户未构建（/portal/ 显示构建提示），API 照常运行"; fi
portal: $(PORTAL_BUILT)

## Regenerate portal/src/api/schema.d.ts from the app's full OpenAPI document (a test keeps it in sync)
portal-api: $(STAMP) portal/node_modules/.installed
	mkdir -p build && $(BIN)/union openapi --full --out build/openapi-full.json
	cd portal && npm run --silent gen:api -- ../build/openapi-full.json -o src/api/schema.d.ts

## PNGs of the main pages with demo data, in screenshots/
screenshots: $(STAMP) portal
	$(BIN)/python bench/portal.py --screenshots screenshots

## Start the service on the embedded default with demo data: http://127.0.0.1:5000, /docs, /portal/
run: $(STAMP) portal
	$(BIN)/union serve --demo --port 5000

## The whole suite: lint, the embedded default, then MariaDB + Redis when they answer
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	@rm -f .test-browser-passed
	$(MAKE) --no-print-directory test-embedded
	@rm -f .test-mariadb-passed
	@if UNION_TEST_DATABASE_URL='$(TEST_DATABASE_URL)' UNION_TEST_REDIS_URL='$(TEST_REDIS_URL)' $(BIN)/python tests/services.py; then \
		$(MAKE) --no-print-directory test-mariadb && touch .test-mariadb-passed; \
	else \
		echo "跳过 MariaDB + Redis 一轮（服务未响应）"; \
	fi

test-embedded: $(STAMP) $(OIDC_PEER)/node_modules/.installed portal
	env -u UNION_TEST_DATABASE_URL -u UNION_TEST_REDIS_URL $(BIN)/python -m pytest

test-mariadb: $(STAMP) $(OIDC_PEER)/node_modules/.installed
	UNION_TEST_DATABASE_URL='$(TEST_DATABASE_URL)' UNION_TEST_REDIS_URL='$(TEST_REDIS_URL)' $(BIN)/python -m pytest

## Style, and the layering of DESIGN.md "Layout" (import-linter contracts in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

## Regenerate the generated files that tests keep in sync
openapi: $(STAMP)
	$(BIN)/union openapi
schema: $(STAMP)
	$(BIN)/union schema > schema.sql

clean:
	rm -rf $(VENV) instance .pytest_cache .test-mariadb-passed .test-browser-passed $(PORTAL_DIST) portal/node_modules screenshots
