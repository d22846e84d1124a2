// Package sim is hearsay's deterministic simulator: N protocol cores
// ([github.com/hearsay-io/hearsay/gossiper.Node]) on one goroutine, in
// virtual time, over a simulated network, replayable from a seed.
package sim
