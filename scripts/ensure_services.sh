#!/usr/bin/env bash
# System programs the test suite and the benchmarks start or call for real, installed when missing.
# Each test session starts its own private redis-server; PostgreSQL comes from the pgserver wheel and Ray from
# its wheel, both through pip (the [all,test] extras the Makefile installs).
#
# NEEDED lists "binary:debian-package" pairs. tests/test_services.py checks that every program the code looks
# up with shutil.which() is listed here, and that every make target that needs one depends on `services`.
# As root with apt-get, a missing one is installed; otherwise this says what to install, and fails under
# CI=true (CI must run every test) or carries on elsewhere (the tests that need it skip, saying why).
set -uo pipefail
NEEDED="redis-server:redis-server git:git"

missing=()
for pair in $NEEDED; do
    binary="${pair%%:*}"
    package="${pair#*:}"
    command -v "$binary" >/dev/null 2>&1 || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (Debian packages) for the tests and benchmarks" >&2
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
        exit 0
    fi
    echo "error: could not install ${missing[*]} with apt-get" >&2
else
    echo "error: missing ${missing[*]}: install them (apt-get install ${missing[*]}) and run make again" >&2
fi
case "${CI:-}" in 1|true|yes|TRUE|True) exit 1 ;; esac
echo "carrying on: the tests that need ${missing[*]} will skip" >&2
exit 0
