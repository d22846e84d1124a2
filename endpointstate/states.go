package endpointstate

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// States is an endpoint's application states: each key's latest value or
// tombstone, in ascending key order. It is an immutable value: With and
// Without return a new States and leave the receiver as it was, so a
// States can be copied, kept and shared (between the node's map, its
// snapshots and readers on other goroutines) at no cost and without
// locking. The zero value is empty and ready to use.
//
// It is stored compactly, in one string: per entry a varint of the key's
// length (and the tombstone flag), the key, a varint of the value's
// length, the value and a varint of the version, 3 to 5 bytes beyond the
// key and value for usual sizes and versions, against about 80 for a Go
// map entry. Lookups walk the entries (an endpoint holds a few); the
// strings they return share the States' memory.
type States struct {
	enc string
}

// StatesOf returns the States holding m's entries.
func StatesOf(m map[string]VersionedValue) States {
	kvs := make([]KeyValue, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, KeyValue{Key: k, VersionedValue: v})
	}
	return States{}.withAll(kvs)
}

// Get returns key's value or tombstone, and whether the States holds
// key.
func (st States) Get(key string) (VersionedValue, bool) {
	for i := 0; i < len(st.enc); {
		k, v, next := st.at(i)
		switch {
		case k == key:
			return v, true
		case k > key: // sorted: key is absent
			return VersionedValue{}, false
		}
		i = next
	}
	return VersionedValue{}, false
}

// All yields every key and its value or tombstone, in ascending key
// order.
func (st States) All() iter.Seq2[string, VersionedValue] {
	return func(yield func(string, VersionedValue) bool) {
		for i := 0; i < len(st.enc); {
			k, v, next := st.at(i)
			if !yield(k, v) {
				return
			}
			i = next
		}
	}
}

// Keys returns the keys in ascending order.
func (st States) Keys() []string {
	var out []string
	for k := range st.All() {
		out = append(out, k)
	}
	return out
}

// Len returns the number of entries, tombstones included.
func (st States) Len() int {
	n := 0
	for i := 0; i < len(st.enc); n++ {
		_, _, i = st.at(i)
	}
	return n
}

// Equal reports whether both hold the same entries.
func (st States) Equal(o States) bool { return st.enc == o.enc }

// Map returns the entries as a new map.
func (st States) Map() map[string]VersionedValue {
	m := make(map[string]VersionedValue)
	for k, v := range st.All() {
		m[k] = v
	}
	return m
}

// With returns the States with key set to v (a value or a tombstone),
// replacing any entry of key whatever its version.
func (st States) With(key string, v VersionedValue) States {
	return st.withAll([]KeyValue{{Key: key, VersionedValue: v}})
}

// Without returns the States without key.
func (st States) Without(key string) States {
	if _, ok := st.Get(key); !ok {
		return st
	}
	var b strings.Builder
	b.Grow(len(st.enc))
	for i := 0; i < len(st.enc); {
		k, _, next := st.at(i)
		if k != key {
			b.WriteString(st.enc[i:next])
		}
		i = next
	}
	return States{enc: b.String()}
}

// String formats the entries like a map, in key order, for logs and test
// failures.
func (st States) String() string {
	var b strings.Builder
	b.WriteString("map[")
	first := true
	for k, v := range st.All() {
		if !first {
			b.WriteByte(' ')
		}
		first = false
		fmt.Fprintf(&b, "%s:%v", k, v)
	}
	b.WriteByte(']')
	return b.String()
}

// withAll returns the States with each of kvs set, replacing the entries
// of their keys; of several kvs for one key, the last wins. It builds the
// new encoding in one pass.
func (st States) withAll(kvs []KeyValue) States {
	if len(kvs) == 0 {
		return st
	}
	kvs = slices.Clone(kvs)
	slices.SortStableFunc(kvs, func(a, b KeyValue) int { return strings.Compare(a.Key, b.Key) })
	// Of equal keys keep the last given (the sort is stable).
	uniq := kvs[:0]
	for i := range kvs {
		if i+1 < len(kvs) && kvs[i+1].Key == kvs[i].Key {
			continue
		}
		uniq = append(uniq, kvs[i])
	}
	size := len(st.enc)
	for i := range uniq {
		size += entrySizeBound(&uniq[i])
	}
	b := make([]byte, 0, size)
	i, j := 0, 0
	for i < len(st.enc) || j < len(uniq) {
		if i < len(st.enc) {
			k, _, next := st.at(i)
			if j == len(uniq) || k < uniq[j].Key {
				b = append(b, st.enc[i:next]...)
				i = next
				continue
			}
			if k == uniq[j].Key {
				i = next // replaced by uniq[j]
			}
		}
		b = appendEntry(b, &uniq[j])
		j++
	}
	return States{enc: string(b)}
}

// entrySizeBound is the most bytes appendEntry writes for kv.
func entrySizeBound(kv *KeyValue) int {
	return 3*binary.MaxVarintLen64 + len(kv.Key) + len(kv.Value)
}

// appendEntry appends kv's encoding to b.
func appendEntry(b []byte, kv *KeyValue) []byte {
	flag := uint64(0)
	if kv.Deleted {
		flag = 1
	}
	b = binary.AppendUvarint(b, uint64(len(kv.Key))<<1|flag)
	b = append(b, kv.Key...)
	b = binary.AppendUvarint(b, uint64(len(kv.Value)))
	b = append(b, kv.Value...)
	return binary.AppendUvarint(b, uint64(kv.Version))
}

// at decodes the entry at offset i of the encoding, which only this file
// writes, and returns it and the offset of the next one.
func (st States) at(i int) (key string, v VersionedValue, next int) {
	kl, n := uvarint(st.enc, i)
	i += n
	key, i = st.enc[i:i+int(kl>>1)], i+int(kl>>1)
	v.Deleted = kl&1 == 1
	vl, n := uvarint(st.enc, i)
	i += n
	v.Value, i = st.enc[i:i+int(vl)], i+int(vl)
	ver, n := uvarint(st.enc, i)
	v.Version = int64(ver)
	return key, v, i + n
}

// uvarint decodes the unsigned varint at offset i of s and returns it and
// its length.
func uvarint(s string, i int) (uint64, int) {
	var x uint64
	for n, shift := 0, uint(0); ; n, shift = n+1, shift+7 {
		c := s[i+n]
		if c < 0x80 {
			return x | uint64(c)<<shift, n + 1
		}
		x |= uint64(c&0x7f) << shift
	}
}
