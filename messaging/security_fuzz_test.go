package messaging

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// FuzzAcceptKeyring (review of issue 12) feeds arbitrary bytes, as what a
// dialer sends, to the acceptor's side of a keyring connection: its mode
// check, its hello and its first sealed frames, as [TCP.readHandshake]
// and [TCP.readLoop] run them. Nothing panics, nothing waits past its
// deadline, and nothing a peer sends without the key is ever returned as a
// payload (the acceptor's nonce is fresh, so no input can hold a frame
// sealed for it).
func FuzzAcceptKeyring(f *testing.F) {
	path := filepath.Join(f.TempDir(), "keyring")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key(7))+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	tr, err := NewTCP(TCPConfig{BindAddr: "127.0.0.1:0", Security: Security{KeyringFile: path, Cluster: "c"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = tr.Close() })

	frame := func(p []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
	}
	hello := frame(appendHello(nil, bytes.Repeat([]byte{1}, helloNonceSize)))
	f.Add(hello)
	f.Add(append(bytes.Clone(hello), frame(bytes.Repeat([]byte{9}, 40))...))
	f.Add(append(bytes.Clone(hello), frame(appendRefusal(nil, "no"))...))
	f.Add(append(bytes.Clone(hello), 0xff, 0xff, 0xff, 0xff))
	f.Add(frame(appendHandshake(nil, "127.0.0.1:1")))
	f.Add(frame(appendRefusal(nil, "refused")))
	f.Add(frame([]byte("HSYK\x01" + string(bytes.Repeat([]byte{1}, helloNonceSize)))))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x10, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		srv, cli := net.Pipe()
		var wg sync.WaitGroup
		wg.Go(func() { // the dialer: sends b, then closes its side
			_, _ = cli.Write(b)
			_ = cli.Close()
		})
		wg.Go(func() { // and reads whatever the acceptor answers
			buf := make([]byte, 512)
			for {
				if _, err := cli.Read(buf); err != nil {
					return
				}
			}
		})
		defer func() {
			_ = srv.Close()
			_ = cli.Close()
			wg.Wait()
		}()
		start := time.Now()
		_ = srv.SetDeadline(start.Add(2 * time.Second))
		c := &conn{ready: make(chan struct{}), done: make(chan struct{})}
		_, r, err := tr.acceptSecure(c, srv, bufio.NewReaderSize(srv, readBufferSize))
		if err == nil {
			if c.open == nil {
				t.Fatal("a keyring acceptor went on without a session")
			}
			if p, err := tr.readPayload(c, r, maxHandshakeSize); err == nil {
				t.Fatalf("a frame opened without the key: %q", p)
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the handshake took %v, past its deadline", d)
		}
	})
}
