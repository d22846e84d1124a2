package messaging

import (
	"errors"
	"sync/atomic"
)

// Stats is a snapshot of a transport's counters, returned by [TCP.Stats] and
// [MemTransport.Stats]. Every frame handed to Send ends up in exactly one of
// SentFrames or a Dropped* counter of the sender; every frame that reaches a
// receiver ends up in its ReceivedFrames or DroppedInboxFull. The counters
// only grow; they are read independently, so a snapshot taken while frames
// move may be a few frames out of balance.
type Stats struct {
	// SentFrames counts frames written to the network (TCP: flushed to the
	// socket; memory: handed to the destination).
	SentFrames uint64
	// SentBytes counts the payload bytes of SentFrames, without headers.
	SentBytes uint64
	// ReceivedFrames counts frames delivered on the Packets channel.
	ReceivedFrames uint64
	// ReceivedBytes counts the payload bytes of ReceivedFrames.
	ReceivedBytes uint64

	// DroppedQueueFull counts Sends refused because the peer's outbound
	// queue was full ([ErrQueueFull]).
	DroppedQueueFull uint64
	// DroppedTooLarge counts frames over the maximum frame size: Sends
	// refused with [ErrFrameTooLarge], and incoming frames whose length
	// prefix is over the limit (their connection is closed).
	DroppedTooLarge uint64
	// DroppedSendError counts frames lost on the way out: the dial or the
	// write failed, the peer was backing off after such a failure
	// ([ErrUnreachable]), or, in memory, the destination is unknown or a
	// fault (partition, block, loss) swallowed the frame.
	DroppedSendError uint64
	// DroppedInboxFull counts received frames dropped because nobody
	// drained the Packets channel fast enough.
	DroppedInboxFull uint64
	// DroppedClosed counts Sends after Close ([ErrClosed]) and frames still
	// queued when Close ran.
	DroppedClosed uint64
	// DroppedMalformed counts frames that were not valid frames: empty
	// payloads passed to Send ([ErrEmptyFrame]), and incoming frames that
	// were empty or cut short by the end of their connection, or, on a
	// transport with a codec, did not decode (their connection is closed).
	DroppedMalformed uint64
	// DroppedConnLimit counts Sends refused with [ErrConnLimit]: a new
	// connection was needed but MaxConns were open and busy, or MaxDials
	// dials were under way.
	DroppedConnLimit uint64
	// DroppedDecrypt counts sealed frames (keyring mode) that did not open
	// under any key: another keyring, or a replayed, reordered or altered
	// frame. Their connection is closed.
	DroppedDecrypt uint64
	// DroppedDialWait counts frames that waited in the dial queue longer
	// than DialQueueTimeout for a dial slot or for room under MaxConns.
	DroppedDialWait uint64
	// DialQueued counts frames that waited in the dial queue (sent or
	// dropped later, and counted then too).
	DialQueued uint64

	// RefusedConns counts connections closed before they carried a frame,
	// for every reason in [Stats.Refusals]: accepted ones, and, for the
	// secured modes' reasons "tls_handshake" and "peer_refused", dialled
	// ones too.
	RefusedConns uint64
	// RefusedConnLimit counts connections refused, or closed before their
	// handshake, because MaxConns connections were open (and their source
	// was within MaxConnsPerSource).
	RefusedConnLimit uint64
	// RefusedPerSource counts connections closed because they had sent
	// no handshake within HandshakeGrace while their source IP had
	// MaxConnsPerSource others in that state, or closed for room under
	// MaxConns while their source had more than MaxConnsPerSource
	// connections without a handshake.
	RefusedPerSource uint64
	// RefusedHandshake counts connections whose first frame was not a
	// valid handshake.
	RefusedHandshake uint64
	// RefusedVersion counts connections whose handshake names another
	// protocol version (an older or newer peer): they are closed before
	// any frame is read.
	RefusedVersion uint64
	// RefusedTimeout counts connections that sent no handshake within
	// HandshakeTimeout.
	RefusedTimeout uint64
	// RefusedClosed counts connections closed by their peer before their
	// handshake.
	RefusedClosed uint64
	// RefusedSecurityMode counts connections whose peer runs in another
	// security mode (plaintext, keyring, TLS; see [Security]).
	RefusedSecurityMode uint64
	// RefusedTLS counts connections, dialled or accepted, whose TLS
	// handshake failed: no certificate, one from another CA, expired.
	RefusedTLS uint64
	// RefusedBadKey counts accepted connections whose first sealed frame
	// opened under no key of the keyring.
	RefusedBadKey uint64
	// RefusedByPeer counts connections this node opened that the peer
	// refused, saying so (another mode, another keyring, a certificate
	// it does not trust).
	RefusedByPeer uint64

	// DialedConns counts connections dialled successfully, AcceptedConns
	// connections accepted whose handshake was valid, and EvictedConns
	// idle connections closed to make room under MaxConns.
	DialedConns, AcceptedConns, EvictedConns uint64
	// OpenConns is the number of connections open now (TCP only).
	OpenConns uint64
	// CredentialReloads counts the times the keyring or the TLS files
	// were read again after a change on disk (TCP only).
	CredentialReloads uint64

	// DatagramsSent and DatagramsReceived count the echoes (and their
	// replies) that went by UDP datagram (TCP only; docs/protocol.md,
	// "Datagrams"). They are also counted in SentFrames and SentBytes,
	// ReceivedFrames and ReceivedBytes, whose bytes are then the whole
	// datagram, header and seal included.
	DatagramsSent, DatagramsReceived uint64
	// DatagramFallbacks counts echoes, and replies to datagrams, that
	// went on TCP although datagrams are on: the address is not an IP
	// literal, the datagram would be too large, the last datagram echo
	// to that address is unanswered, or the write failed.
	DatagramFallbacks uint64
	// DatagramDrops counts received datagrams dropped, by reason. They
	// are not in Dropped, which counts frames.
	DatagramDrops DatagramDrops
	// ResumedConns counts connections that resumed the codec session of
	// an earlier connection to the same peer instead of starting with
	// empty tables, at each end (TCP only; docs/protocol.md).
	ResumedConns uint64
	// CodecSessions and CodecSessionBytes are the closed connections'
	// codec sessions kept now for resumption, and the bytes they count
	// against TCPConfig.CodecSessionBytes (TCP only).
	CodecSessions, CodecSessionBytes uint64
}

// Refusal reasons, the keys of [Stats.Refusals].
const (
	refuseConnLimit = "conn_limit"
	refusePerSource = "per_source"
	refuseHandshake = "bad_handshake"
	refuseTimeout   = "handshake_timeout"
	refuseClosed    = "closed_before_handshake"
	refuseVersion   = "version"
)

// Refusals returns the refused-connection counters keyed by reason, for
// metrics export: "conn_limit", "per_source", "bad_handshake", "version",
// "handshake_timeout", "closed_before_handshake", and for the secured
// modes "security_mode", "tls_handshake", "bad_key" and "peer_refused".
// Every key is present.
func (s Stats) Refusals() map[string]uint64 {
	return map[string]uint64{
		refuseConnLimit: s.RefusedConnLimit,
		refusePerSource: s.RefusedPerSource,
		refuseHandshake: s.RefusedHandshake,
		refuseTimeout:   s.RefusedTimeout,
		refuseClosed:    s.RefusedClosed,
		refuseVersion:   s.RefusedVersion,

		refuseSecurityMode: s.RefusedSecurityMode,
		refuseTLS:          s.RefusedTLS,
		refuseBadKey:       s.RefusedBadKey,
		refuseByPeer:       s.RefusedByPeer,
	}
}

// Drop reasons, the keys of [Stats.Drops].
const (
	dropQueueFull = "queue_full"
	dropTooLarge  = "too_large"
	dropSendError = "send_error"
	dropInboxFull = "inbox_full"
	dropClosed    = "closed"
	dropMalformed = "malformed"
	dropConnLimit = "conn_limit"
	dropDecrypt   = "decrypt"
	dropDialWait  = "dial_wait"
)

// Drops returns the drop counters keyed by reason, for metrics export:
// "queue_full", "too_large", "send_error", "inbox_full", "closed",
// "malformed", "conn_limit", "decrypt" and "dial_wait". Every key is present, zero or not.
func (s Stats) Drops() map[string]uint64 {
	return map[string]uint64{
		dropQueueFull: s.DroppedQueueFull,
		dropTooLarge:  s.DroppedTooLarge,
		dropSendError: s.DroppedSendError,
		dropInboxFull: s.DroppedInboxFull,
		dropClosed:    s.DroppedClosed,
		dropMalformed: s.DroppedMalformed,
		dropConnLimit: s.DroppedConnLimit,
		dropDecrypt:   s.DroppedDecrypt,
		dropDialWait:  s.DroppedDialWait,
	}
}

// Dropped returns the sum of all drop counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedQueueFull + s.DroppedTooLarge + s.DroppedSendError +
		s.DroppedInboxFull + s.DroppedClosed + s.DroppedMalformed + s.DroppedConnLimit + s.DroppedDecrypt +
		s.DroppedDialWait
}

// counters is the live, concurrently updated form of [Stats]. Its fields are
// atomics, so it needs no lock; the zero value is ready to use.
type counters struct {
	sentFrames, sentBytes         atomic.Uint64
	receivedFrames, receivedBytes atomic.Uint64

	droppedQueueFull atomic.Uint64
	droppedTooLarge  atomic.Uint64
	droppedSendError atomic.Uint64
	droppedInboxFull atomic.Uint64
	droppedClosed    atomic.Uint64
	droppedMalformed atomic.Uint64
	droppedConnLimit atomic.Uint64
	droppedDecrypt   atomic.Uint64
	droppedDialWait  atomic.Uint64
	dialQueued       atomic.Uint64

	refusedConnLimit, refusedPerSource, refusedHandshake atomic.Uint64
	refusedTimeout, refusedClosed, refusedVersion        atomic.Uint64
	refusedSecurityMode, refusedTLS, refusedBadKey       atomic.Uint64
	refusedByPeer                                        atomic.Uint64
	dialedConns, acceptedConns, evictedConns             atomic.Uint64

	datagramsSent, datagramsReceived, datagramFallbacks atomic.Uint64
	datagramDrops                                       [numDatagramDrops]atomic.Uint64
	resumedConns                                        atomic.Uint64
}

// refused counts one connection refused for reason.
func (c *counters) refused(reason string) {
	switch reason {
	case refuseConnLimit:
		c.refusedConnLimit.Add(1)
	case refusePerSource:
		c.refusedPerSource.Add(1)
	case refuseHandshake:
		c.refusedHandshake.Add(1)
	case refuseTimeout:
		c.refusedTimeout.Add(1)
	case refuseVersion:
		c.refusedVersion.Add(1)
	case refuseSecurityMode:
		c.refusedSecurityMode.Add(1)
	case refuseTLS:
		c.refusedTLS.Add(1)
	case refuseBadKey:
		c.refusedBadKey.Add(1)
	case refuseByPeer:
		c.refusedByPeer.Add(1)
	default:
		c.refusedClosed.Add(1)
	}
}

// sent records n frames of size bytes in total written to the network.
// Bytes are added before frames and snapshot loads frames first, so a
// snapshot never counts a frame whose bytes it lacks.
func (c *counters) sent(n, size int) {
	c.sentBytes.Add(uint64(size))
	c.sentFrames.Add(uint64(n))
}

// received records one frame of size bytes delivered on the Packets channel,
// bytes before the frame for the same reason as sent.
func (c *counters) received(size int) {
	c.receivedBytes.Add(uint64(size))
	c.receivedFrames.Add(1)
}

// countRejected records a payload that Send refused for its size: err is
// the error of checkFrameSize.
func (c *counters) countRejected(err error) {
	if errors.Is(err, ErrEmptyFrame) {
		c.droppedMalformed.Add(1)
	} else {
		c.droppedTooLarge.Add(1)
	}
}

// snapshot returns a plain copy of the counters.
func (c *counters) snapshot() Stats {
	s := Stats{
		SentFrames:       c.sentFrames.Load(),
		SentBytes:        c.sentBytes.Load(),
		ReceivedFrames:   c.receivedFrames.Load(),
		ReceivedBytes:    c.receivedBytes.Load(),
		DroppedQueueFull: c.droppedQueueFull.Load(),
		DroppedTooLarge:  c.droppedTooLarge.Load(),
		DroppedSendError: c.droppedSendError.Load(),
		DroppedInboxFull: c.droppedInboxFull.Load(),
		DroppedClosed:    c.droppedClosed.Load(),
		DroppedMalformed: c.droppedMalformed.Load(),
		DroppedConnLimit: c.droppedConnLimit.Load(),
		DroppedDialWait:  c.droppedDialWait.Load(),
		DialQueued:       c.dialQueued.Load(),
		RefusedConnLimit: c.refusedConnLimit.Load(),
		RefusedPerSource: c.refusedPerSource.Load(),
		RefusedHandshake: c.refusedHandshake.Load(),
		RefusedTimeout:   c.refusedTimeout.Load(),
		RefusedClosed:    c.refusedClosed.Load(),
		RefusedVersion:   c.refusedVersion.Load(),
		DroppedDecrypt:   c.droppedDecrypt.Load(),

		RefusedSecurityMode: c.refusedSecurityMode.Load(),
		RefusedTLS:          c.refusedTLS.Load(),
		RefusedBadKey:       c.refusedBadKey.Load(),
		RefusedByPeer:       c.refusedByPeer.Load(),
		DialedConns:         c.dialedConns.Load(),
		AcceptedConns:       c.acceptedConns.Load(),
		EvictedConns:        c.evictedConns.Load(),
		DatagramsSent:       c.datagramsSent.Load(),
		DatagramsReceived:   c.datagramsReceived.Load(),
		DatagramFallbacks:   c.datagramFallbacks.Load(),
		ResumedConns:        c.resumedConns.Load(),
	}
	dd := &c.datagramDrops
	s.DatagramDrops = DatagramDrops{
		Malformed: dd[dgMalformed].Load(), TooLarge: dd[dgTooLarge].Load(), Version: dd[dgVersion].Load(),
		SecurityMode: dd[dgMode].Load(), Decrypt: dd[dgDecrypt].Load(), Cluster: dd[dgCluster].Load(),
		Source: dd[dgSource].Load(), Type: dd[dgType].Load(), Unsolicited: dd[dgUnsolicited].Load(),
	}
	s.RefusedConns = s.RefusedConnLimit + s.RefusedPerSource + s.RefusedHandshake + s.RefusedTimeout + s.RefusedClosed + s.RefusedVersion +
		s.RefusedSecurityMode + s.RefusedTLS + s.RefusedBadKey + s.RefusedByPeer
	return s
}
