package core

import (
	"time"

	"github.com/hearsay-io/hearsay/messaging"
)

// Join contacts addrs at now, as memberlist's Join does: each gets a Syn
// with this node's digests (its Ack carries everything this node lacks, and
// asks for what it lacks in return) and an Echo, whose reply tells the
// caller that the address answered. It returns the output and the Echo
// nonces, one per address, in order. The addresses are not kept (they are
// not added to the seeds). Join does nothing before the node runs.
func (n *Node) Join(now time.Time, addrs []string) (Output, []uint64) {
	var out Output
	if n.phase != phaseRunning {
		return out, nil
	}
	syn := n.synDigests(now)
	nonces := make([]uint64, len(addrs))
	for i, a := range addrs {
		n.nonce++
		nonces[i] = n.nonce
		out.send(a, syn)
		out.send(a, &messaging.Echo{Nonce: n.nonce})
	}
	return out, nonces
}
