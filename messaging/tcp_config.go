package messaging

import (
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// TCPConfig configures a [TCP] transport. Start from [DefaultTCPConfig] and
// set BindAddr. A zero numeric or duration field takes its default, so
// TCPConfig{BindAddr: "127.0.0.1:0"} is also valid; negative values are
// rejected by [TCPConfig.Validate].
type TCPConfig struct {
	// BindAddr is the "host:port" to listen on, for example "0.0.0.0:7000",
	// "127.0.0.1:0" or "[::1]:0". Port 0 picks a free port; [TCP.LocalAddr]
	// reports it. Required.
	BindAddr string
	// MaxFrameSize is the largest payload, in bytes, that is sent or
	// accepted. Default [DefaultMaxFrameSize] (1 MiB); at most 4 GiB - 1.
	// Peers must agree on it: a frame over the receiver's limit closes the
	// connection.
	MaxFrameSize int
	// QueueSize is the number of frames queued per destination before Send
	// returns [ErrQueueFull]. Default 128.
	QueueSize int
	// QueueBytes caps the payload bytes queued per connection: a Send or a
	// reply that would go beyond it returns [ErrQueueFull], so a peer that
	// does not read pins at most this much (and MaxConns times this in
	// all), however many answers it draws. Default 4 × MaxFrameSize (4 MiB
	// at the default frame size); at least MaxFrameSize.
	QueueBytes int
	// InboxSize is the capacity, in frames, of the Packets channel; frames
	// received while it is full are dropped. Default 1024.
	InboxSize int
	// AdvertiseAddr is the "host:port" this node claims in the handshake
	// of every connection it dials, so that the peer can send back on that
	// connection instead of dialling its own. Default: the bound address,
	// with an unspecified host (0.0.0.0, ::) replaced by the local IP of
	// each connection. The peer trusts the claim only if its host is the
	// IP the connection comes from.
	AdvertiseAddr string
	// MaxConns caps the connections open at once, dialled and accepted
	// together (one per peer pair). To open one more, the transport closes
	// one that nothing is queued on, in this order: a connection past
	// HandshakeGrace still without its handshake; the connection idle the
	// longest (no frame either way) for at least 250 ms, a connection that
	// lost a simultaneous open first; else the oldest connection still
	// waiting for its handshake. A connection used within the last 250 ms
	// is never closed for room: it may have carried a request whose
	// answer comes back on it. If there is no victim, an accepted
	// connection is refused, and a Send waits in the dial queue (see
	// DialQueueFrames) until one is; both are counted. Default 72: a
	// 64-node cluster's peers plus room for crossed dials, and 256 nodes
	// in one process (256 × 72 connection ends) stay under an open-files
	// limit of 20,000.
	MaxConns int
	// MaxConnsPerSource caps, per source IP, the accepted connections
	// still without their handshake HandshakeGrace after they were
	// accepted; a connection that reaches that age while its source has
	// MaxConnsPerSource such connections is closed (counted as refused,
	// reason "per_source"). The cap goes by age because honest peers send
	// their handshake with their first bytes: many nodes sharing one
	// address (every node of a test on 127.0.0.1, a NAT) may have dozens
	// of connections accepted and not yet read at once, but not slow
	// ones; a source holding half-open connections cannot keep more than
	// this many past the grace, and younger ones give way to new
	// connections under MaxConns (a connection closed for room while its
	// source has more than MaxConnsPerSource without a handshake, young
	// or slow, is counted as "per_source" too). Default 16.
	MaxConnsPerSource int
	// HandshakeGrace is how long an accepted connection may go without
	// the first bytes of its handshake before it counts against
	// MaxConnsPerSource; a quarter of it while its source has more than
	// MaxConnsPerSource connections without a handshake. Default 100ms,
	// or half of HandshakeTimeout if that is shorter; it must be below
	// HandshakeTimeout.
	HandshakeGrace time.Duration
	// MaxDials caps the dials in progress at once. A Send that needs a
	// new connection beyond it, or while MaxConns are open and none can
	// be closed, waits in the dial queue and is sent once a dial slot and
	// room are free. Dials count against MaxConns. Default 32.
	MaxDials int
	// DialQueueFrames and DialQueueBytes bound the frames (and their
	// bytes), all addresses together, waiting in the dial queue; a Send
	// beyond either is dropped with [ErrConnLimit]. Each address's
	// waiting frames are also bounded by QueueSize and QueueBytes.
	// Defaults 512 frames and 4 × MaxFrameSize bytes.
	DialQueueFrames int
	DialQueueBytes  int
	// DialQueueTimeout is how long a frame may wait in the dial queue; an
	// address whose frames waited longer when its turn comes is skipped
	// and its frames dropped (counted in [Stats.DroppedDialWait]): gossip
	// that old is stale, and the next round sends afresh. Default 1s.
	DialQueueTimeout time.Duration
	// HandshakeTimeout is how long an accepted connection may take to send
	// its handshake frame before it is closed. Default 5s.
	HandshakeTimeout time.Duration
	// DialTimeout bounds one connection attempt. Default 1s.
	DialTimeout time.Duration
	// WriteTimeout bounds one frame write; a peer that does not read for
	// this long loses its connection. Default 2s.
	WriteTimeout time.Duration
	// IdleTimeout closes an inbound connection that sends no frame for this
	// long (it is the read deadline), and closes an outbound connection,
	// with its queue and goroutine, that has had nothing to send for this
	// long. Default 5m: a connection's lean-encoding tables (see Codec)
	// last as long as it does, and two nodes of a 64-node cluster meet
	// about every 30 s, so a minute would close one connection in six
	// between their meetings; MaxConns bounds what stays open.
	IdleTimeout time.Duration
	// BackoffMin is the base delay before redialling a peer after the first
	// dial or write failure. Default 50ms.
	BackoffMin time.Duration
	// BackoffMax caps the base delay, which doubles with each consecutive
	// failure. Each wait is drawn uniformly from [base/2, base]. Default 5s;
	// must not be below BackoffMin.
	BackoffMax time.Duration
	// Codec, when set, makes every connection carry envelopes in the lean
	// encoding (docs/protocol.md): [TCP.SendEnvelope] queues an envelope
	// that the connection's writer encodes with that connection's tables,
	// and each received frame is decoded by its connection's reader and
	// delivered as [Packet.Envelope]; a frame that does not decode closes
	// its connection (both ends then start fresh). Raw payloads sent with
	// Send are written as they are, and a peer decoding lean frames will
	// refuse them. Default nil: raw payloads only.
	Codec *Codec
	// Encoded, when set with Codec, is called by each connection's writer
	// with the type and size of every envelope it encodes, for per-type
	// metrics. It must be quick and safe for concurrent use.
	Encoded func(t Type, size int)
	// CodecSessionBytes bounds the memory kept, per transport, of closed
	// connections' lean codec state (a few bytes per endpoint the
	// connection carried, each direction), so that a new connection to
	// the same peer resumes it instead of starting with empty tables
	// (docs/protocol.md, "Codec sessions"): least recently closed first
	// out. Default 1 MiB (0); -1 keeps none, and every connection starts
	// fresh. Only with a Codec.
	CodecSessionBytes int
	// Security selects plaintext (the default), a keyring or mutual TLS;
	// see [Security] and docs/security.md.
	Security Security
	// Datagrams says whether echoes go as UDP datagrams ("on"), or
	// everything on TCP ("off"). Default "" is on, except in mutual-TLS
	// mode, where it is off ("on" with TLS is an error): the transport
	// binds a UDP socket on BindAddr's host and the listener's port, and
	// [TCP.SendEnvelope] sends every Echo as one datagram (sealed with the
	// keyring in keyring mode) and the reply comes back by datagram, so an
	// echo opens no connection; see docs/protocol.md, "Datagrams". NewTCP
	// fails if that UDP port cannot be bound. Only with a Codec.
	Datagrams string
	// Logger receives connection-level events (dial failures, closed
	// connections, protocol violations) at debug and warn level, never one
	// line per frame. Default [zerolog.Nop]; the zero Logger discards too.
	Logger zerolog.Logger
}

// Defaults of [TCPConfig].
const (
	defaultQueueSize    = 128
	queueFrames         = 4 // QueueBytes' default, in frames of MaxFrameSize
	defaultInboxSize    = 1024
	defaultMaxConns     = 72
	defaultPerSource    = 16
	defaultGrace        = 100 * time.Millisecond
	defaultMaxDials     = 32
	defaultDialFrames   = 512
	defaultDialWait     = time.Second
	defaultHandshake    = 5 * time.Second
	defaultDialTimeout  = time.Second
	defaultWriteTimeout = 2 * time.Second
	defaultIdleTimeout  = 5 * time.Minute
	defaultBackoffMin   = 50 * time.Millisecond
	defaultBackoffMax   = 5 * time.Second
	defaultSessionBytes = 1 << 20
)

// DefaultTCPConfig returns a configuration with every field at its default
// and BindAddr empty: the caller must set BindAddr. QueueBytes is left 0,
// which means 4 × MaxFrameSize, and so is DialQueueBytes, so that raising
// MaxFrameSize alone keeps the configuration valid; HandshakeGrace is left
// 0 too, which means 100 ms or half of HandshakeTimeout if that is less.
func DefaultTCPConfig() TCPConfig {
	return TCPConfig{
		MaxFrameSize:      DefaultMaxFrameSize,
		QueueSize:         defaultQueueSize,    // a round sends one to three frames to a peer; this rides out a stall of many rounds
		QueueBytes:        0,                   // 4 × MaxFrameSize, whatever MaxFrameSize is set to: enough for a round, bounded for a peer that never reads
		InboxSize:         defaultInboxSize,    // the gossip loop drains it every step; this absorbs a burst from a large cluster
		MaxConns:          defaultMaxConns,     // a 64-node cluster's working set; 256 nodes × 72 fit in 20,000 files
		MaxConnsPerSource: defaultPerSource,    // an honest dialer handshakes at once, so few are ever slow
		HandshakeGrace:    0,                   // 100 ms (far longer than an honest handshake takes to arrive, even at a busy join), or HandshakeTimeout/2
		MaxDials:          defaultMaxDials,     // bounds goroutines spent on unreachable addresses
		DialQueueFrames:   defaultDialFrames,   // a join's worth of first frames to every peer of a 256-node cluster, twice
		DialQueueBytes:    0,                   // 4 × MaxFrameSize, like QueueBytes
		DialQueueTimeout:  defaultDialWait,     // about a gossip interval: older frames are stale
		HandshakeTimeout:  defaultHandshake,    // far longer than a handshake takes, short enough to reap half-open connections
		DialTimeout:       defaultDialTimeout,  // loopback and LAN dials finish in well under a millisecond
		WriteTimeout:      defaultWriteTimeout, // a peer stalled this long is as good as down
		IdleTimeout:       defaultIdleTimeout,  // keeps the lean tables of peers met every few minutes; MaxConns bounds the rest
		BackoffMin:        defaultBackoffMin,   // a restarting peer is back quickly
		BackoffMax:        defaultBackoffMax,   // a dead peer costs at most one dial every few seconds
		CodecSessionBytes: defaultSessionBytes, // about 280 peers' sessions at N = 256, 1 MiB per node
		Logger:            zerolog.Nop(),
	}
}

// Validate reports every problem with the configuration at once, joined with
// [errors.Join]. It does not modify c.
func (c TCPConfig) Validate() error {
	var errs []error
	bad := func(field string, value any, rule string) {
		errs = append(errs, fmt.Errorf("messaging: TCPConfig.%s = %v: %s", field, value, rule))
	}
	if c.BindAddr == "" {
		bad("BindAddr", `""`, `required, for example "127.0.0.1:7000"`)
	} else if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		bad("BindAddr", fmt.Sprintf("%q", c.BindAddr), fmt.Sprintf(`must be "host:port": %v`, err))
	}
	if c.MaxFrameSize < 0 || int64(c.MaxFrameSize) > math.MaxUint32 {
		bad("MaxFrameSize", c.MaxFrameSize, "must be between 1 and 4294967295 bytes, or 0 for the default")
	}
	for _, f := range []struct {
		name  string
		value int
	}{
		{"QueueSize", c.QueueSize}, {"QueueBytes", c.QueueBytes}, {"InboxSize", c.InboxSize}, {"MaxConns", c.MaxConns},
		{"MaxConnsPerSource", c.MaxConnsPerSource}, {"MaxDials", c.MaxDials},
		{"DialQueueFrames", c.DialQueueFrames}, {"DialQueueBytes", c.DialQueueBytes},
	} {
		if f.value < 0 {
			bad(f.name, f.value, "must be positive, or 0 for the default")
		}
	}
	for _, f := range []struct {
		name  string
		value time.Duration
	}{
		{"DialTimeout", c.DialTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout}, {"BackoffMin", c.BackoffMin}, {"BackoffMax", c.BackoffMax},
		{"HandshakeTimeout", c.HandshakeTimeout}, {"HandshakeGrace", c.HandshakeGrace},
		{"DialQueueTimeout", c.DialQueueTimeout},
	} {
		if f.value < 0 {
			bad(f.name, f.value, "must be positive, or 0 for the default")
		}
	}
	if c.CodecSessionBytes < -1 {
		bad("CodecSessionBytes", c.CodecSessionBytes, "must be positive, 0 for the default or -1 for none")
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil || len(c.AdvertiseAddr) > maxHandshakeAddr {
			bad("AdvertiseAddr", fmt.Sprintf("%q", c.AdvertiseAddr), fmt.Sprintf(`must be "host:port" of at most %d bytes`, maxHandshakeAddr))
		}
	}
	errs = append(errs, c.Security.validate()...)
	errs = append(errs, c.validateDatagrams()...)
	if d := c.withDefaults(); c.QueueBytes > 0 && d.QueueBytes < d.MaxFrameSize {
		bad("QueueBytes", c.QueueBytes, fmt.Sprintf("must hold one frame of MaxFrameSize (%d bytes), or 0 for the default", d.MaxFrameSize))
	}
	if d := c.withDefaults(); c.DialQueueBytes > 0 && d.DialQueueBytes < d.MaxFrameSize {
		bad("DialQueueBytes", c.DialQueueBytes, fmt.Sprintf("must hold one frame of MaxFrameSize (%d bytes), or 0 for the default", d.MaxFrameSize))
	}
	if d := c.withDefaults(); c.HandshakeGrace > 0 && d.HandshakeGrace >= d.HandshakeTimeout {
		bad("HandshakeGrace", d.HandshakeGrace, fmt.Sprintf("must be below HandshakeTimeout (%v)", d.HandshakeTimeout))
	}
	if d := c.withDefaults(); d.BackoffMin > 0 && d.BackoffMax > 0 && d.BackoffMax < d.BackoffMin {
		bad("BackoffMax", d.BackoffMax, fmt.Sprintf("must not be below BackoffMin (%v)", d.BackoffMin))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c TCPConfig) withDefaults() TCPConfig {
	def := DefaultTCPConfig()
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&c.MaxFrameSize, def.MaxFrameSize)
	setInt(&c.QueueSize, def.QueueSize)
	if c.QueueBytes == 0 {
		c.QueueBytes = queueFrames * c.MaxFrameSize
	}
	setInt(&c.InboxSize, def.InboxSize)
	setInt(&c.MaxConns, def.MaxConns)
	setInt(&c.MaxConnsPerSource, def.MaxConnsPerSource)
	setInt(&c.MaxDials, def.MaxDials)
	setInt(&c.DialQueueFrames, def.DialQueueFrames)
	if c.DialQueueBytes == 0 {
		c.DialQueueBytes = queueFrames * c.MaxFrameSize
	}
	setDur(&c.HandshakeTimeout, def.HandshakeTimeout)
	setDur(&c.HandshakeGrace, min(defaultGrace, c.HandshakeTimeout/2))
	setDur(&c.DialQueueTimeout, def.DialQueueTimeout)
	setDur(&c.DialTimeout, def.DialTimeout)
	setDur(&c.WriteTimeout, def.WriteTimeout)
	setDur(&c.IdleTimeout, def.IdleTimeout)
	setDur(&c.BackoffMin, def.BackoffMin)
	setDur(&c.BackoffMax, def.BackoffMax)
	setInt(&c.CodecSessionBytes, def.CodecSessionBytes)
	return c
}
