package gossiper

import (
	"sync/atomic"

	"github.com/hearsay-io/hearsay/messaging"
)

// SizeBuckets are the upper bounds, in bytes, of the message-size
// histograms in [Stats].
var sizeBuckets = [...]int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

// SizeBuckets returns the upper bounds, in bytes, of the message-size
// histograms in [Stats].
func SizeBuckets() []int { return append([]int(nil), sizeBuckets[:]...) }

// Histogram is a cumulative-free histogram of message sizes: Counts[i]
// counts sizes <= SizeBuckets()[i] and > the previous bound; the last
// element counts larger ones.
type Histogram struct {
	// Counts per bucket (len(SizeBuckets())+1).
	Counts []uint64
	// Count and Sum are the number and total bytes of observations.
	Count, Sum uint64
}

// TypeStats counts messages of one type.
type TypeStats struct {
	// Sent and Received count messages.
	Sent, Received uint64
	// SentBytes and ReceivedBytes count encoded payload bytes.
	SentBytes, ReceivedBytes uint64
	// Sizes is the histogram of sent message sizes.
	Sizes Histogram
}

// Stats is a snapshot of a Gossiper's counters, for metrics.
type Stats struct {
	// Core holds the protocol core's counters as of the last round.
	Core Counters
	// Messages are per message type ("syn", "ack", ...).
	Messages map[string]TypeStats
	// DecodeErrors counts frames that were not valid messages. A
	// transport that decodes frames itself (TCP, with the lean encoding)
	// counts them in Transport.DroppedMalformed instead, and closes
	// their connection.
	DecodeErrors uint64
	// SendErrors counts messages that could not be encoded or queued.
	SendErrors uint64
	// EventsDropped counts events lost to full subscriber buffers.
	EventsDropped uint64
	// SeedUpdates counts seed lists received from the SeedProvider.
	SeedUpdates uint64
	// IdentityRefused counts envelopes refused on a mutual-TLS connection
	// because the peer's certificate does not name the node ID in their
	// From (see messaging.Identity).
	IdentityRefused uint64
	// Transport holds the transport's counters, when it has them.
	Transport messaging.Stats
}

const numTypes = 16

// counters are the runtime's atomic counters.
type counters struct {
	decodeErrors, sendErrors, eventsDropped, seedUpdates atomic.Uint64
	identityRefused                                      atomic.Uint64
	types                                                [numTypes]typeCounters
}

type typeCounters struct {
	sent, received, sentBytes, receivedBytes atomic.Uint64
	buckets                                  [len(sizeBuckets) + 1]atomic.Uint64
}

func (c *counters) sent(t messaging.Type, size int) {
	if int(t) >= numTypes {
		return
	}
	tc := &c.types[t]
	// Bytes before the message, and Stats loads messages first: a
	// snapshot never counts a message without its bytes.
	tc.sentBytes.Add(uint64(size))
	tc.sent.Add(1)
	i := 0
	for i < len(sizeBuckets) && size > sizeBuckets[i] {
		i++
	}
	tc.buckets[i].Add(1)
}

func (c *counters) received(t messaging.Type, size int) {
	if int(t) >= numTypes {
		return
	}
	c.types[t].receivedBytes.Add(uint64(size))
	c.types[t].received.Add(1)
}

// Stats returns the current counters.
func (g *Gossiper) Stats() Stats {
	s := Stats{
		Core:          g.snap.Load().counters,
		Messages:      map[string]TypeStats{},
		DecodeErrors:  g.stats.decodeErrors.Load(),
		SendErrors:    g.stats.sendErrors.Load(),
		EventsDropped: g.stats.eventsDropped.Load(),
		SeedUpdates:   g.stats.seedUpdates.Load(),

		IdentityRefused: g.stats.identityRefused.Load(),
	}
	for t := messaging.TypeSyn; t <= messaging.TypePush; t++ {
		tc := &g.stats.types[t]
		ts := TypeStats{Sent: tc.sent.Load(), Received: tc.received.Load(),
			SentBytes: tc.sentBytes.Load(), ReceivedBytes: tc.receivedBytes.Load()}
		ts.Sizes.Counts = make([]uint64, len(tc.buckets))
		for i := range tc.buckets {
			ts.Sizes.Counts[i] = tc.buckets[i].Load()
		}
		ts.Sizes.Count, ts.Sizes.Sum = ts.Sent, ts.SentBytes
		s.Messages[t.String()] = ts
	}
	g.mu.Lock()
	tr := g.transport
	g.mu.Unlock()
	if st, ok := tr.(interface{ Stats() messaging.Stats }); ok {
		s.Transport = st.Stats()
	}
	return s
}
