package messaging

import (
	"net/netip"
	"strings"
	"time"
)

// Shadow answers by datagram: a ShadowSyn that came by datagram is
// answered by datagrams too when its answer, the seed's view of the
// cluster, fits in at most maxShadowDatagrams of them; each carries a
// ShadowAck with some of the states, in order, and the ShadowSyn's token.
// At a cluster-wide start every node asks the one seed at once, and over
// TCP the seed's answers waited in its dial queue for room under MaxConns
// (72): half of a 128-node cluster finished its shadow round 0.3–0.9 s
// late, and the cluster learnt those nodes late (docs/performance.md,
// "Shadow answers by datagram").
//
// The answer goes on TCP, as before, when it holds the asking node's own
// ID (a restart, or an ID in use elsewhere: the core must see that state
// before any other, which datagrams, which may be lost or reordered, do
// not promise), when it needs more than maxShadowDatagrams, or when the
// transport has sent more than shadowDatagramBurst bytes of such answers
// in the last second (at shadowDatagramRate): a forged ShadowSyn from a
// spoofed source makes a node send at most that much to the victim.

const (
	// shadowKeyPrefix marks a ShadowSyn's token in datagrams.lastEcho and
	// echoToken.addr: the key is the prefix and the address asked.
	shadowKeyPrefix = "shadow "
	// maxShadowDatagrams bounds the datagrams of one shadow answer: about
	// 20 KB, the view of about 200 nodes of the peerbench kind.
	maxShadowDatagrams = 16
	// shadowDatagramRate and shadowDatagramBurst bound the bytes of
	// shadow answers a transport sends by datagram: per second, and at
	// once (a 256-node cluster starting through one seed).
	shadowDatagramRate  = 1 << 20
	shadowDatagramBurst = 1 << 20
)

// shadowBudget is the token bucket of shadow answers by datagram, in
// bytes; guarded by datagrams.mu.
type shadowBudget struct {
	bytes float64
	at    time.Time
}

// spend takes n bytes from the budget at now, or reports false and takes
// nothing.
func (d *datagrams) spend(n int, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := &d.shadow
	if b.at.IsZero() {
		b.bytes = shadowDatagramBurst
	} else if dt := now.Sub(b.at); dt > 0 {
		b.bytes = min(shadowDatagramBurst, b.bytes+dt.Seconds()*shadowDatagramRate)
	}
	b.at = now
	if float64(n) > b.bytes {
		return false
	}
	b.bytes -= float64(n)
	return true
}

// shadowParts returns the datagrams of e, a ShadowAck, each carrying
// token and as many of its states, in order, as fit MaxDatagramSize; or
// false if a state alone does not fit or more than maxShadowDatagrams
// would be needed.
func (d *datagrams) shadowParts(codec *Codec, e *Envelope, ack *ShadowAck, token uint64) ([][]byte, bool) {
	part := *e
	part.Message = &ShadowAck{}
	empty, ok := d.build(codec, &part, token)
	if !ok {
		return nil, false
	}
	// The delta array's header grows from 1 to at most 3 bytes.
	room := MaxDatagramSize - len(empty) - 2
	var parts [][]byte
	deltas := ack.Deltas
	for len(parts) == 0 || len(deltas) > 0 {
		k, used := 0, 0
		for k < len(deltas) && used+deltas[k].SizeBound() <= room {
			used += deltas[k].SizeBound()
			k++
		}
		if (k == 0 && len(deltas) > 0) || len(parts) == maxShadowDatagrams {
			return nil, false
		}
		part.Message = &ShadowAck{Deltas: deltas[:k]}
		b, ok := d.build(codec, &part, token)
		if !ok {
			return nil, false
		}
		parts = append(parts, b)
		deltas = deltas[k:]
	}
	return parts, true
}

// sendShadowAck sends e, a ShadowAck answering requester's ShadowSyn that
// came by datagram from dst with token, as datagrams, and reports whether
// it did; false sends it on TCP (see the rules above; the fallbacks other
// than the requester's own state count in DatagramFallbacks).
func (t *TCP) sendShadowAck(dst netip.AddrPort, e *Envelope, ack *ShadowAck, token uint64, requester string) bool {
	for i := range ack.Deltas {
		if ack.Deltas[i].Endpoint == requester {
			return false
		}
	}
	parts, ok := t.dg.shadowParts(t.cfg.Codec, e, ack, token)
	size := 0
	for _, b := range parts {
		size += len(b)
	}
	if !ok || !t.dg.spend(size, time.Now()) {
		t.stats.datagramFallbacks.Add(1)
		return false
	}
	for _, b := range parts {
		if !t.writeBuilt(dst, b) {
			t.stats.datagramFallbacks.Add(1)
			return false // the whole answer goes on TCP: states twice are harmless
		}
	}
	if t.cfg.Encoded != nil {
		t.cfg.Encoded(TypeShadowAck, size)
	}
	return true
}

// shadowAnswered reports whether token is that of a ShadowSyn this
// transport sent by datagram to src in the last datagramTokenTTL. Every
// datagram of the answer carries it, so it is not used up; the request
// counts as answered, so the next ShadowSyn to src may go by datagram.
func (d *datagrams) shadowAnswered(token uint64, src netip.AddrPort, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	tk, ok := d.tokens[token]
	if !ok || now.Sub(tk.at) >= datagramTokenTTL {
		return false
	}
	asked, ok := strings.CutPrefix(tk.addr, shadowKeyPrefix)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(asked)
	if err != nil || ap.Addr().Unmap() != src.Addr().Unmap() || ap.Port() != src.Port() {
		return false
	}
	if d.lastEcho[tk.addr] == token {
		delete(d.lastEcho, tk.addr)
	}
	return true
}
