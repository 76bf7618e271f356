#!/usr/bin/env bash
# System services the test suite starts for real (each test session starts its own private instance):
# redis-server (shared budgets). PostgreSQL comes from the pgserver wheel and Ray from its wheel, both via pip.
# Installs what is missing when we are root with apt-get; otherwise says what to install and carries on
# (the tests that need it then fail with that reason in CI, or skip with it elsewhere).
set -uo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing redis-server (Debian package) for the shared-budget tests" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
            || echo "warning: could not install redis-server" >&2
    else
        echo "warning: redis-server is missing; install it (apt-get install redis-server) to run the shared-budget tests" >&2
    fi
fi
exit 0
