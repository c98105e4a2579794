# santeid — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST   ?= 127.0.0.1
PORT   ?= 5000
# Where the pages are: the issuer's host, as santeid serve makes it (santeid.settings.base.url_host
# of listen_host): 127.0.0.1 for a wildcard HOST (0.0.0.0, ::, [::]), an IPv6 address in brackets
# (HOST=::1 or HOST=[::1]), its zone written %25 (HOST=fe80::1%eth0: [fe80::1%25eth0], RFC 6874)
# and kept in its case (an interface name), a host name in lower case (HOST=LOCALHOST: localhost,
# RFC 3986 §6.2.2.1).
lower  = $(subst A,a,$(subst B,b,$(subst C,c,$(subst D,d,$(subst E,e,$(subst F,f,$(subst G,g,$(subst H,h,$(subst I,i,$(subst J,j,$(subst K,k,$(subst L,l,$(subst M,m,$(subst N,n,$(subst O,o,$(subst P,p,$(subst Q,q,$(subst R,r,$(subst S,s,$(subst T,t,$(subst U,u,$(subst V,v,$(subst W,w,$(subst X,x,$(subst Y,y,$(subst Z,z,$(1)))))))))))))))))))))))))))
BARE   := $(patsubst [%],%,$(HOST))
SHOWN  := $(if $(filter 0.0.0.0 ::,$(BARE)),127.0.0.1,$(if $(findstring :,$(BARE)),[$(subst %,%25,$(BARE))],$(call lower,$(BARE))))
# HTTPS for what needs a client certificate: INSi establishment certificates, CPS cards.
TLS_PORT ?= 5443
# CIBA push mode (ciba_push_enabled): off by default, as at Pro Santé Connect, whose discovery
# lists poll and ping only. make run CIBA_PUSH=true for docs/ciba.md's push walk-through; left
# unset, the setting comes from SANTEID_CIBA_PUSH_ENABLED or the config file, as for serve.
CIBA_PUSH ?=

.PHONY: run test lint format check-redis check-postgres clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

## make run: install, create dev keys and demo data if missing, serve the sandbox on
## http://127.0.0.1:5000 (and https://127.0.0.1:5443 for client certificates). Other ports or
## address: make run PORT=8000 TLS_PORT=8443 HOST=127.0.0.1 (the issuer follows them). CIBA push
## mode, which PSC lacks: make run CIBA_PUSH=true.
run: $(STAMP)
	SANTEID_SANDBOX=true $(BIN)/santeid keys generate
	SANTEID_SANDBOX=true $(BIN)/santeid directory seed-demo
	@# The INSi demo base: 100 000 synthetic persons plus the published test identities.
	test -f var/civil-status.sqlite3 || SANTEID_SANDBOX=true $(BIN)/santeid civil generate --persons 100000 --seed 1
	test -f keys/tls/cert.pem || SANTEID_SANDBOX=true $(BIN)/santeid tls dev-cert --out keys/tls
	@echo
	@echo "Sandbox: next steps (README.md, \"Try it\")"
	@echo "  http://$(SHOWN):$(PORT)/                   start here: it links every sandbox page"
	@echo "  http://$(SHOWN):$(PORT)/sandbox/debugger   log a professional in (810000000030) and read the tokens"
	@echo "  http://$(SHOWN):$(PORT)/admin/             admin console: admin / santeid-demo-admin"
	@echo
	SANTEID_SANDBOX=true $(if $(CIBA_PUSH),SANTEID_CIBA_PUSH_ENABLED=$(CIBA_PUSH) )$(BIN)/santeid serve --sandbox --access-log --host $(HOST) --port $(PORT) \
	  --tls-port $(TLS_PORT) --tls-cert keys/tls/cert.pem --tls-key keys/tls/key.pem

## make test: install the dev dependencies, lint, run the whole suite on every core (pytest-xdist;
## -n auto is two workers per core, tests/conftest.py; each worker starts its own redis-server,
## server processes and browsers on free ports; PostgreSQL at 127.0.0.1:5432 or one the suite
## starts). A module's tests stay on one worker, in order: some are the steps of one scenario on
## a module-scoped server or browser.
## Branch coverage of santeid (pytest-cov), failing under COVERAGE_FLOOR: measured in the test
## processes only; the code the e2e tests run inside their santeid serve subprocesses is not
## counted (the in-process tests cover the same modules). Measured: 90.92–91.05 % of statements and
## branches (6 414–6 606 tests) over the last runs; the floor sits under it.
COVERAGE_FLOOR ?= 84
## santeid's modules are compiled to bytecode first and Python's bytecode cache is on for the run
## (PYTHONDONTWRITEBYTECODE emptied, where the environment sets it): the ≈ 200 servers and
## commands the suite starts would otherwise each compile what they import from source again.
## The 25 slowest tests are listed at the end: a test nearing its time limit (120 s unless it
## says otherwise) on a loaded machine shows there before it fails.
test: $(STAMP) check-redis check-postgres lint
	$(BIN)/python -m compileall -q src
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n auto --dist loadscope --cov=santeid --cov-branch --cov-report=term:skip-covered \
	  --cov-fail-under=$(COVERAGE_FLOOR) --durations=25

check-redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server is missing: the Redis tests need a real server."; \
	  echo "Install it with: apt-get install redis-server   (Debian/Ubuntu)"; exit 1; }

check-postgres:
	@$(PYTHON) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2).close()" \
	  2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || command -v initdb >/dev/null 2>&1 || { \
	  echo "PostgreSQL is missing: the repository contract tests need a real server."; \
	  echo "Run one on 127.0.0.1:5432 (trust authentication), or install Debian's binaries"; \
	  echo "and the suite starts its own: apt-get install postgresql"; exit 1; }

## make lint: ruff (rules and format) and mypy (pyproject.toml [tool.mypy]: strict on the
## newest modules, default settings elsewhere).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
