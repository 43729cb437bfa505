# Two commands on a fresh machine:
#   make run    install, migrate, load both unit structures and the demo events, serve on :5000
#   make test   install, run the whole suite on SQLite and, at the same time, on PostgreSQL when one answers
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(PY) -m flask --app app
PORT ?= 5000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres browser bench translations compile-translations clean

$(VENV)/.runtime: requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

run: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) units load --structure 2024
	$(FLASK) units load --structure 2025
	$(FLASK) schedules load schedules/nd49-2024.toml \
	  --shift-to $$($(PY) -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=14))')
	$(FLASK) schedules load schedules/example-2025-two-tier.toml \
	  --shift-to $$($(PY) -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=21))')
	$(FLASK) events demo-registrations nd49-2024 --province 56
	$(FLASK) events demo-live --province 56
	@echo "Demo logins:"
	@$(FLASK) users demo
	@echo "Serving on http://127.0.0.1:$(PORT) (Ctrl+C stops the web server and the scheduler)"
	@export PORT=$(PORT); $(FLASK) scheduler run & sched=$$!; trap 'kill $$sched 2>/dev/null' EXIT INT TERM; \
	  PORT=$(PORT) $(FLASK) run --host 127.0.0.1 --port $(PORT) --no-reload

# Debian's Chromium for the browser tests: installed when missing and we are root.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium missing and not root: browser tests will be skipped"; fi; \
	fi

# The SQLite and PostgreSQL passes run at the same time (one core each; the suite is mostly one
# busy thread per pass), each into its own log, printed when both are done. TEST_SERIAL=1 runs them
# one after the other with their output as it comes.
test: $(VENV)/.dev browser
	@if [ -n "$$TEST_DATABASE_URL" ] || $(PY) -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 1)' 2>/dev/null; then \
	  if [ -n "$$TEST_SERIAL" ]; then \
	    $(MAKE) --no-print-directory test-sqlite && $(MAKE) --no-print-directory test-postgres; \
	  else \
	    mkdir -p test-artifacts; \
	    echo "== SQLite and PostgreSQL passes at once (logs: test-artifacts/sqlite.log, postgres.log) =="; \
	    $(MAKE) --no-print-directory test-sqlite > test-artifacts/sqlite.log 2>&1 & lite=$$!; \
	    $(MAKE) --no-print-directory test-postgres > test-artifacts/postgres.log 2>&1 & pg=$$!; \
	    wait $$lite; lite_rc=$$?; wait $$pg; pg_rc=$$?; \
	    cat test-artifacts/sqlite.log test-artifacts/postgres.log; \
	    echo "SQLite pass: exit $$lite_rc, PostgreSQL pass: exit $$pg_rc"; \
	    [ $$lite_rc = 0 ] && [ $$pg_rc = 0 ]; \
	  fi; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then echo "PostgreSQL required but not reachable" >&2; exit 1; \
	else $(MAKE) --no-print-directory test-sqlite && \
	  echo "note: no PostgreSQL on 127.0.0.1:5432 and TEST_DATABASE_URL unset: PostgreSQL run skipped"; fi

test-sqlite: $(VENV)/.dev
	@echo "== test suite on SQLite =="
	env -u TEST_DATABASE_URL $(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev
	@echo "== test suite on PostgreSQL =="
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(PG_TEST_URL)} $(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) bench/bench_units.py
	$(PY) bench/import_national.py
	$(PY) bench/bench_progress.py
	$(PY) bench/invitations.py
	$(PY) bench/sms_fanout.py
	$(PY) bench/outbox_faults.py
	$(PY) bench/dashboard_national.py
	$(PY) bench/sweep_scale.py
	$(PY) bench/incident_priority.py
	$(PY) bench/live_bytes.py
	$(PY) bench/long_lists.py
	$(PY) bench/audit_log.py
	command -v wrk >/dev/null && $(PY) bench/poll_rate.py || echo "bench/poll_rate.py skipped: it needs wrk"

# After changing a UI string: extract, merge, then translate the new entries in the .po, then `make compile-translations`.
translations: $(VENV)/.dev
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -c Translators: --omit-header \
	  --add-location=file --sort-output --no-wrap -o coordinator/translations/messages.pot .
	$(VENV)/bin/pybabel update -i coordinator/translations/messages.pot -d coordinator/translations -l vi \
	  --no-wrap --ignore-obsolete

compile-translations: $(VENV)/.dev
	$(VENV)/bin/pybabel compile -d coordinator/translations --statistics

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
