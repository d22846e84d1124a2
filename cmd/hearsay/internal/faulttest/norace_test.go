//go:build !race

package faulttest

// raceEnabled builds the agent binary under test with the race detector too.
const raceEnabled = false
