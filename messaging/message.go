package messaging

import (
	"fmt"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// Type identifies a message on the wire.
type Type uint8

// Message types. The numbers are part of the wire format: never reuse one.
const (
	// TypeSyn starts an exchange: the sender's digests.
	TypeSyn Type = 1
	// TypeAck answers a Syn: requests and deltas.
	TypeAck Type = 2
	// TypeAck2 finishes an exchange: the requested deltas.
	TypeAck2 Type = 3
	// TypeShutdown announces that the sender is going down.
	TypeShutdown Type = 4
	// TypeEcho asks a peer to prove it is alive (before it is marked up).
	TypeEcho Type = 5
	// TypeEchoReply answers an Echo.
	TypeEchoReply Type = 6
	// TypeShadowSyn asks for the full cluster state without announcing
	// the sender (the start-up shadow round).
	TypeShadowSyn Type = 7
	// TypeShadowAck answers a ShadowSyn with full states.
	TypeShadowAck Type = 8
	// TypePush carries a fresh change, pushed at once rather than waiting
	// for a round; it is never answered.
	TypePush Type = 9
)

// String returns the type's name as used in logs and metrics.
func (t Type) String() string {
	switch t {
	case TypeSyn:
		return "syn"
	case TypeAck:
		return "ack"
	case TypeAck2:
		return "ack2"
	case TypeShutdown:
		return "shutdown"
	case TypeEcho:
		return "echo"
	case TypeEchoReply:
		return "echo_reply"
	case TypeShadowSyn:
		return "shadow_syn"
	case TypeShadowAck:
		return "shadow_ack"
	case TypePush:
		return "push"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is one of the protocol's messages: *Syn (or *NumberedSyn), *Ack (or *NumberedAck), *Ack2, *Shutdown,
// *Echo, *EchoReply, *ShadowSyn, *ShadowAck or *Push.
type Message interface {
	// Type returns the message's wire type.
	Type() Type
}

// Syn carries the digests of every endpoint the sender knows (Cassandra's
// GossipDigestSyn; the cluster name travels in the [Envelope]).
type Syn struct {
	// Digests of everything the sender knows, in random order.
	Digests []endpointstate.Digest
}

// NumberedSyn is a Syn whose digests' endpoint numbers, in the
// endpointstate.IDTable its sender shares with its receivers, come with
// it: Numbers[k] is Digests[k]'s number plus 1 (0: none). The simulator's
// cores, which share one table and hand each other their messages as
// they are, send it instead of a Syn, so that the receiver and the
// Encoder's Size find each endpoint without hashing its ID (see
// endpointstate.Map.ExamineNumbered); a runtime node sends a plain Syn
// and pays nothing for it. On the wire it is a Syn (Encode ignores the
// numbers; a decoded one is a *Syn); a number is trusted only where it
// names its ID.
type NumberedSyn struct {
	Syn
	Numbers []uint32
}

// Ack answers a Syn: the digests the receiver wants (each asks for every
// version above its MaxVersion) and the deltas the Syn's sender lacks
// (Cassandra's GossipDigestAck).
type Ack struct {
	// Requests are the states wanted from the Syn's sender.
	Requests []endpointstate.Digest
	// Deltas are the states the Syn's sender lacks.
	Deltas []endpointstate.Delta
}

// Ack2 carries the deltas an Ack requested (Cassandra's GossipDigestAck2).
type Ack2 struct {
	// Deltas answer the Ack's requests.
	Deltas []endpointstate.Delta
}

// Shutdown announces a graceful shutdown: State is the sender's full state,
// already carrying status "shutdown", so receivers mark it down at once and
// keep the status.
type Shutdown struct {
	// State is the sender's own state as a reset delta.
	State endpointstate.Delta
}

// Echo asks the receiver to answer with an EchoReply carrying the same
// Nonce. A node is marked up only after its own reply (Cassandra's echo).
type Echo struct {
	// Nonce identifies the request.
	Nonce uint64
}

// EchoReply answers an Echo.
type EchoReply struct {
	// Nonce is the Echo's.
	Nonce uint64
	// Generation is the replying node's generation: a reply from a newer
	// incarnation than the one the asker knows does not mark the old one
	// up.
	Generation int64
}

// ShadowSyn asks a seed for the full cluster state, for a node that has not
// announced itself yet (the shadow round at start-up).
type ShadowSyn struct{}

// ShadowAck answers a ShadowSyn with as many full states as fit one frame,
// the requester's own ID first if known.
type ShadowAck struct {
	// Deltas are reset deltas of the known endpoints.
	Deltas []endpointstate.Delta
}

// Push carries deltas of a change pushed as it happens (rumour mongering):
// only the new versions of the endpoints that changed. The receiver
// applies them as it would an Ack2's and never answers; the digest rounds
// repair any Push that is lost.
type Push struct {
	// Deltas are the changed endpoints' new versions.
	Deltas []endpointstate.Delta
}

// Type implements [Message].
func (*Push) Type() Type { return TypePush }

// Type implements [Message].
func (*Syn) Type() Type { return TypeSyn }

// Type implements [Message]: a NumberedSyn is a Syn.
func (*NumberedSyn) Type() Type { return TypeSyn }

// NumberedAck is an Ack whose requests' endpoint numbers come with it, as
// a NumberedSyn's digests' do: RequestNumbers[k] is Requests[k]'s number
// plus 1 (0: none). The simulator's cores answer a NumberedSyn with it;
// on the wire it is an Ack. (Its deltas carry their numbers themselves:
// endpointstate.Delta.Number.)
type NumberedAck struct {
	Ack
	RequestNumbers []uint32
}

// Type implements [Message]: a NumberedAck is an Ack.
func (*NumberedAck) Type() Type { return TypeAck }

// Type implements [Message].
func (*Ack) Type() Type { return TypeAck }

// Type implements [Message].
func (*Ack2) Type() Type { return TypeAck2 }

// Type implements [Message].
func (*Shutdown) Type() Type { return TypeShutdown }

// Type implements [Message].
func (*Echo) Type() Type { return TypeEcho }

// Type implements [Message].
func (*EchoReply) Type() Type { return TypeEchoReply }

// Type implements [Message].
func (*ShadowSyn) Type() Type { return TypeShadowSyn }

// Type implements [Message].
func (*ShadowAck) Type() Type { return TypeShadowAck }

// Envelope wraps every message: the protocol version, the cluster name and
// the sender's identity.
type Envelope struct {
	// Version is the protocol version; [ProtocolVersion] when sending.
	Version uint8
	// Cluster is the sender's cluster name. Receivers drop messages from
	// other clusters.
	Cluster string
	// From is the sender's node ID.
	From string
	// Addr is the sender's advertised gossip address ("host:port").
	Addr string
	// Message is the payload.
	Message Message
}
