package messaging

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/endpointstate"
)

// FuzzDatagram: no datagram makes a transport panic, and every datagram is
// either delivered, as an Echo or EchoReply of the cluster from the
// source it names, or dropped and counted under exactly one reason. The
// seeds are a valid echo, sealed and plain, and mutations of it.
func FuzzDatagram(f *testing.F) {
	codec, err := NewCodec(DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(f, err)
	ring := filepath.Join(f.TempDir(), "ring")
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	require.NoError(f, os.WriteFile(ring, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600))
	newT := func(sec Security) *TCP {
		cfg := DefaultTCPConfig()
		cfg.BindAddr, cfg.Codec, cfg.Security = "127.0.0.1:0", codec, sec
		tr, err := NewTCP(cfg)
		require.NoError(f, err)
		f.Cleanup(func() { _ = tr.Close() })
		return tr
	}
	plain := newT(Security{Cluster: "prod"})
	sealed := newT(Security{KeyringFile: ring, Cluster: "prod"})
	src := netip.MustParseAddrPort("127.0.0.1:7000")
	echo := &Envelope{Version: ProtocolVersion, Cluster: "prod", From: "a", Addr: src.String(), Message: &Echo{Nonce: 3}}
	for _, tr := range []*TCP{plain, sealed} {
		b, ok := tr.dg.build(codec, echo, 42)
		require.True(f, ok)
		f.Add(b, false)
		f.Add(b[:len(b)-1], false)
		f.Add(append(append([]byte(nil), b[:datagramHeaderSize]...), 0x96), false)
	}
	f.Add([]byte("HSDG\x02\x00"), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, keyring bool) {
		tr := plain
		if keyring {
			tr = sealed
		}
		before := tr.Stats()
		p, reason := tr.openDatagram(b, src)
		if reason >= 0 {
			assert.Less(t, reason, numDatagramDrops)
			return
		}
		require.NotNil(t, p.Envelope)
		typ := p.Envelope.Message.Type()
		assert.True(t, typ == TypeEcho || typ == TypeEchoReply, "%v", typ)
		assert.Equal(t, "prod", p.Envelope.Cluster)
		assert.True(t, sourceMatches(p.Envelope.Addr, src))
		assert.Equal(t, before, tr.Stats(), "opening counts nothing; handleDatagram does")
	})
}

// TestDatagramHeaderWireFormat pins the header's layout and that an
// echo's datagram is small.
func TestDatagramHeaderWireFormat(t *testing.T) {
	codec, err := NewCodec(DefaultMaxFrameSize, endpointstate.DefaultLimits())
	require.NoError(t, err)
	d := &datagrams{}
	e := &Envelope{Version: ProtocolVersion, Cluster: "prod", From: "node-17", Addr: "10.1.2.3:7000", Message: &Echo{Nonce: 9}}
	b, ok := d.build(codec, e, 0x0102030405060708)
	require.True(t, ok)
	assert.Equal(t, []byte("HSDG"), b[:4])
	assert.Equal(t, []byte{ProtocolVersion, datagramPlain}, b[4:6])
	assert.Equal(t, uint64(0x0102030405060708), binary.BigEndian.Uint64(b[6:14]))
	body, err := codec.Encode(e)
	require.NoError(t, err)
	assert.Equal(t, body, b[14:], "the body is the plain codec's envelope")
	assert.Less(t, len(b), 64, "an echo takes %d bytes", len(b))

	e.From = string(make([]byte, MaxDatagramSize))
	_, ok = d.build(codec, e, 1)
	assert.False(t, ok, "an echo over MaxDatagramSize goes on TCP")
}
