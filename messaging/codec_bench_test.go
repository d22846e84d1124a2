package messaging

import (
	"fmt"
	"testing"

	"github.com/hearsay-io/hearsay/endpointstate"
)

func bigSyn(n int) *Envelope {
	ds := make([]endpointstate.Digest, n)
	for i := range ds {
		ds[i] = endpointstate.Digest{Endpoint: fmt.Sprintf("node-%05d", i), Generation: 1764244800 + int64(i), MaxVersion: 1000 + int64(i)}
	}
	return envelope(&Syn{Digests: ds})
}

// BenchmarkSynEncode encodes a 1,000-endpoint SYN and reports its size per
// digest.
func BenchmarkSynEncode(b *testing.B) {
	c := testCodec(b)
	env := bigSyn(1000)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		p, err := c.Encode(env)
		if err != nil {
			b.Fatal(err)
		}
		size = len(p)
	}
	b.ReportMetric(float64(size)/1000, "bytes/digest")
	b.ReportMetric(float64(size), "bytes/msg")
}

// BenchmarkSynDecode decodes a 1,000-endpoint SYN.
func BenchmarkSynDecode(b *testing.B) {
	c := testCodec(b)
	p, err := c.Encode(bigSyn(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := c.Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
