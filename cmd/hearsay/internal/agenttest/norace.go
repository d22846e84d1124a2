//go:build !race

package agenttest

// RaceEnabled is true when the tests run with the race detector: the agent
// binary under test is then built with it too.
const RaceEnabled = false
