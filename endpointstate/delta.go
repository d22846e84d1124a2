package endpointstate

// Delta carries the part of one endpoint's state that the receiver lacks:
// the application states above the version the receiver asked from, in
// ascending version order, with the heartbeat. A Reset delta carries the
// whole state and replaces the receiver's copy.
type Delta struct {
	// Endpoint is the node ID the delta is about.
	Endpoint string
	// Generation is the endpoint's generation.
	Generation int64
	// HeartBeat is the heartbeat version carried, or 0 when the delta
	// carries none (it had not moved past FromVersion and no state did).
	HeartBeat int64
	// GCVersion is the sender's tombstone-collection version for the
	// endpoint.
	GCVersion int64
	// Reset marks a delta holding the endpoint's complete state; the
	// receiver replaces its copy with it.
	Reset bool
	// Number is the endpoint's number in the IDTable of the sender's
	// [NumberedStore], plus 1, or 0: the simulator's cores share one
	// table and hand each other their messages as they are, so the
	// receiver ([Map.Apply]) and the simulator's sizing find the endpoint
	// without hashing its ID. Local: never encoded (a decoded delta has
	// 0), ignored unless the receiver's table numbers the ID with it; in
	// the struct's padding.
	Number uint32
	// FromVersion is the version the delta starts above (0 for a reset):
	// a receiver whose max version is below it would be left with a gap,
	// so it ignores the delta.
	FromVersion int64
	// States are the application states (tombstones included) in
	// ascending version order.
	States []KeyValue
}

// MaxVersion is the highest version the delta carries: after applying it
// the receiver knows the endpoint at least up to this version.
func (d *Delta) MaxVersion() int64 {
	m := max(d.HeartBeat, d.GCVersion)
	for i := range d.States {
		m = max(m, d.States[i].Version)
	}
	return m
}

// SizeBound returns an upper bound on the encoded size of d in bytes.
func (d *Delta) SizeBound() int {
	n := deltaOverhead(d.Endpoint)
	for i := range d.States {
		n += kvSizeBound(&d.States[i])
	}
	return n
}

func deltaOverhead(endpoint string) int {
	return arrayOverhead + strOverhead + len(endpoint) + 4*intBound + boolBound + arrayOverhead
}

func kvSizeBound(kv *KeyValue) int {
	return arrayOverhead + 2*strOverhead + len(kv.Key) + len(kv.Value) + intBound + boolBound
}

// maxReservedValue bounds the values of reserved keys (an address, a
// status, a time).
const maxReservedValue = 512

// StateSizeBound is the largest encoded size of a Reset delta for an
// endpoint within l: a message must be able to hold one, so the frame limit
// must be at least this (plus the envelope).
func (l Limits) StateSizeBound() int {
	live := l.MaxBytes + l.MaxKeys*(arrayOverhead+2*strOverhead+intBound+boolBound)
	tombstones := l.MaxKeys * (arrayOverhead + 2*strOverhead + l.MaxKeyLength + intBound + boolBound)
	reserved := ReservedKeys * (arrayOverhead + 2*strOverhead + len(ReservedPrefix) + 16 + maxReservedValue + intBound + boolBound)
	return deltaOverhead(string(make([]byte, l.MaxKeyLength))) + live + tombstones + reserved
}

// Clone returns a deep copy of d.
func (d *Delta) Clone() Delta {
	c := *d
	c.States = append([]KeyValue(nil), d.States...)
	return c
}
