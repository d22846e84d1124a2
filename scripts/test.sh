#!/usr/bin/env bash
# The whole test suite: unit, property, fuzz-corpus, integration (real TCP
# and DNS on loopback) and end-to-end (real agent processes) tests, with the
# race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 15m ./...
