package messaging

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSession returns a dialer's sealer and the acceptor's opener of one
// connection, on a keyring file of keys.
func testSession(t testing.TB, keys ...[]byte) (*sealer, *opener, *keyringFile) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring")
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
	ring, err := newKeyringFile(path, nil, new(atomic.Uint64))
	require.NoError(t, err)
	d, a := bytes.Repeat([]byte{1}, helloNonceSize), bytes.Repeat([]byte{2}, helloNonceSize)
	seal, _ := newSession(ring, "c", d, a, true)
	_, open := newSession(ring, "c", d, a, false)
	return seal, open, ring
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpen(t *testing.T) {
	seal, open, _ := testSession(t, key(7))
	for i, msg := range []string{"one", "two", "three"} {
		sealed, err := seal.seal([]byte(msg))
		require.NoError(t, err)
		assert.Len(t, sealed, len(msg)+sealOverhead)
		assert.NotContains(t, string(sealed), msg)
		got, err := open.open(bytes.Clone(sealed))
		require.NoError(t, err, "frame %d", i)
		assert.Equal(t, msg, string(got))
	}
	sealed, err := seal.seal([]byte("four"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
	}{
		{"a bit flipped", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"the tag cut", func(b []byte) []byte { return b[:len(b)-1] }},
		{"shorter than a tag", func(b []byte) []byte { return b[:3] }},
	} {
		_, err := open.open(tc.mut(bytes.Clone(sealed)))
		assert.ErrorIs(t, err, ErrDecrypt, tc.name)
	}
	got, err := open.open(bytes.Clone(sealed))
	require.NoError(t, err, "a failed frame does not move the counter")
	assert.Equal(t, "four", string(got))
	_, err = open.open(bytes.Clone(sealed))
	assert.ErrorIs(t, err, ErrDecrypt, "the same frame again is a replay")

	// The other direction uses other keys: a frame reflected back fails.
	_, back := newSession(seal.ring, "c", seal.s.dialer, seal.s.acceptor, true)
	_, err = back.open(bytes.Clone(sealed))
	assert.ErrorIs(t, err, ErrDecrypt, "a frame reflected to its sender does not open")
	// Another cluster's additional data: no.
	_, other := newSession(seal.ring, "c2", seal.s.dialer, seal.s.acceptor, false)
	_, err = other.open(bytes.Clone(sealed))
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestOpenTriesEveryKey(t *testing.T) {
	seal, _, _ := testSession(t, key(2)) // the sender's primary is 2
	_, open, _ := testSession(t, key(1), key(2), key(3))
	open.s = seal.s // same nonces
	for _, msg := range []string{"a", "b"} {
		sealed, err := seal.seal([]byte(msg))
		require.NoError(t, err)
		got, err := open.open(sealed)
		require.NoError(t, err)
		assert.Equal(t, msg, string(got))
	}
	assert.Equal(t, 1, open.last, "the key that worked is tried first next time")
}

func TestParseHello(t *testing.T) {
	nonce := bytes.Repeat([]byte{9}, helloNonceSize)
	got, err := parseHello(appendHello(nil, nonce))
	require.NoError(t, err)
	assert.Equal(t, nonce, got)
	_, err = parseHello(appendRefusal(nil, "go away\n\x1b[31m"))
	require.ErrorIs(t, err, ErrRefusedByPeer)
	assert.ErrorContains(t, err, "go away??[31m", "the peer's words are made printable")
	_, err = parseHello(appendHandshake(nil, "127.0.0.1:1"))
	assert.ErrorIs(t, err, ErrSecurityMode)
	_, err = parseHello([]byte("HSYK\x01" + string(nonce)))
	assert.ErrorIs(t, err, ErrVersion)
	_, err = parseHello([]byte("HSYK\x02short"))
	assert.ErrorIs(t, err, errHandshake)
}

// FuzzOpenFrame feeds arbitrary bytes, as a sealed frame, to an opener,
// and arbitrary bytes as the first frames of a connection to the hello,
// refusal and mode parsers: nothing panics, nothing opens that was not
// sealed, and memory stays bounded by the input.
func FuzzOpenFrame(f *testing.F) {
	seal, _, _ := testSession(f, key(7))
	for _, m := range []string{"x", "hello", string(bytes.Repeat([]byte{0}, 100))} {
		s, err := seal.seal([]byte(m))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(s))
	}
	f.Add(appendHello(nil, bytes.Repeat([]byte{1}, helloNonceSize)))
	f.Add(appendRefusal(nil, "no"))
	f.Add(append([]byte{0, 0, 0, 9}, "HSYK\x02abcd"...))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x10})
	d, a := seal.s.dialer, seal.s.acceptor
	f.Fuzz(func(t *testing.T, b []byte) {
		_, open := newSession(seal.ring, "c", d, a, false)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := open.open(bytes.Clone(b))
		if err == nil {
			// Only a frame sealed by the sender opens: the first one.
			fresh, _ := newSession(seal.ring, "c", d, a, true)
			s, _ := fresh.seal(p)
			assert.Equal(t, s, b, "opened a frame that was not sealed")
		}
		_, _ = parseHello(b)
		_, _ = parseRefusal(b)
		_ = peekMode(b)
		_, _ = peekHead(bufio.NewReader(bytes.NewReader(b)))
		_, _ = ParseKeyring(b)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(64*len(b)+1<<20) {
			t.Errorf("allocated %d bytes for %d of input", grew, len(b))
		}
	})
}

// BenchmarkSealOpen is the CPU cost of the keyring on one frame: sealing
// it and opening it (the receiver's key is the sender's primary), at the
// sizes of a steady-state Ack at N = 100 and 1,000 (BenchmarkSecureExchange).
func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []int{700, 8 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			seal, open, _ := testSession(b, key(7))
			payload := bytes.Repeat([]byte{'x'}, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				s, err := seal.seal(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := open.open(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
