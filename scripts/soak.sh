#!/usr/bin/env bash
# The soak: 20 agents on 127.0.0.1 for DURATION (default 30m, 5m to 4h),
# every agent updating a key every second, a random SIGKILL and restart
# every minute; then convergence, and flat memory and goroutines on the
# agents never killed. Built without the race detector, so that the memory
# figures are the agent's own.
#   scripts/soak.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
HEARSAY_SOAK="${1:-30m}" go test -count=1 -v -timeout 5h -run TestSoak ./cmd/hearsay/internal/faulttest/
