package endpointstate

import (
	"fmt"
	"testing"
)

// benchMaps returns a local map of n endpoints (each with a few states)
// and the digests of a peer that is behind on every tenth endpoint and
// ahead on every tenth other one, the rest equal.
func benchMaps(n int) (*Map, []Digest) {
	m := NewMap()
	var remote []Digest
	for i := range n {
		ep := fmt.Sprintf("node-%05d", i)
		s := NewEndpointState(1764244800)
		s.Set(KeyAddress, fmt.Sprintf("10.0.%d.%d:7000", i/256, i%256), 1)
		s.Set(KeyStatus, StatusNormal, 2)
		s.Set("load", "0.42", 3)
		s.HeartBeat.Version = 100
		m.Put(ep, s)
		d := Digest{Endpoint: ep, Generation: 1764244800, MaxVersion: 100}
		switch i % 10 {
		case 0:
			d.MaxVersion = 2 // behind: we send
		case 1:
			d.MaxVersion = 120 // ahead: we request
		}
		remote = append(remote, d)
	}
	return m, remote
}

// BenchmarkExamine compares a SYN's digests against a map of the same
// size (Cassandra's examineGossiper).
func BenchmarkExamine(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("digests=%d", n), func(b *testing.B) {
			m, remote := benchMaps(n)
			b.ReportAllocs()
			for b.Loop() {
				m.Examine(remote)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/digest")
		})
	}
}

// BenchmarkBuildAck compares the digests and builds the ACK's deltas
// within a 1 MiB budget.
func BenchmarkBuildAck(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("digests=%d", n), func(b *testing.B) {
			m, remote := benchMaps(n)
			b.ReportAllocs()
			for b.Loop() {
				_, wants := m.Examine(remote)
				m.BuildDeltas(wants, 1<<20)
			}
		})
	}
}

// BenchmarkApply applies a heartbeat-only delta to every endpoint of a
// 1,000-endpoint map (the steady-state ACK2).
func BenchmarkApply(b *testing.B) {
	m, _ := benchMaps(1000)
	deltas := make([]Delta, 0, 1000)
	for _, ep := range m.Endpoints() {
		deltas = append(deltas, Delta{Endpoint: ep, Generation: 1764244800, HeartBeat: 101})
	}
	opts := ApplyOptions{Now: t0, Limits: DefaultLimits()}
	b.ReportAllocs()
	hb := int64(101)
	for b.Loop() {
		hb++
		for i := range deltas {
			deltas[i].HeartBeat = hb
		}
		if _, err := m.Apply(deltas, opts); err != nil {
			b.Fatal(err)
		}
	}
}
