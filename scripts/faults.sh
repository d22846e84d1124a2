#!/usr/bin/env bash
# The network-namespace fault test alone: 5 agents in 5 namespaces, a
# 2 | 3 partition, 20 % loss, a SIGKILL and restart (about 2.5 minutes).
# Needs root, ip (iproute2) and nft (nftables); fails instead of skipping.
# Extra arguments go to go test (e.g. -run 'TestNetworkFaults/partition').
set -euo pipefail
cd "$(dirname "$0")/.."
HEARSAY_REQUIRE_NETNS=1 go test -race -count=1 -v -timeout 10m -run TestNetworkFaults "$@" ./cmd/hearsay/internal/faulttest/
