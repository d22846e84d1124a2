// Package faulttest holds hearsay's fault tests against real agent
// processes: the network-namespace test (5 agents on a bridge, a partition,
// packet loss and a SIGKILL with restart, made with ip netns and nftables)
// and the opt-in soak test (20 agents on loopback, updates every second, a
// random SIGKILL and restart every minute). The package has no code outside
// its tests; docs/reliability.md says how to run them and what they measured.
package faulttest
