package cli

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/tlstest"
)

// tlsAgent is fakeAgent serving HTTPS on 127.0.0.1 with a certificate
// for names issued by ca; it counts the requests that reached it over
// TLS.
type tlsAgent struct {
	*httptest.Server
	overTLS atomic.Int64
}

func fakeTLSAgent(t *testing.T, ca *tlstest.CA, token string, names ...string) *tlsAgent {
	t.Helper()
	certPEM, keyPEM, _ := ca.Issue(t, names...)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	a := &tlsAgent{}
	h := fakeAgentHandler(t, token)
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			a.overTLS.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	a.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	a.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	a.StartTLS()
	t.Cleanup(a.Close)
	return a
}

// TestCommandsOverHTTPS: every client subcommand talks to an https://
// agent whose CA is given with --http-ca, and a bare host:port with
// --http-ca means https.
func TestCommandsOverHTTPS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	caFile := ca.WriteCA(t, dir, "ca")
	srv := fakeTLSAgent(t, ca, "", "127.0.0.1")
	require.True(t, strings.HasPrefix(srv.URL, "https://127.0.0.1:"))
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{"members", []string{"members"}, 0, "UP      n1  127.0.0.1:7001"},
		{"info", []string{"info"}, 0, "n1 (self)\n  address: 127.0.0.1:7001"},
		{"set", []string{"set", "k", "v"}, 0, "k = v (version 12)\n"},
		{"delete", []string{"delete", "k"}, 0, "deleted k\n"},
		{"watch", []string{"watch", "--kinds", "dead"}, 1, "dead     n2  reason=convicted phi=8.25"},
		{"join", []string{"join", "10.0.0.1:7000", "10.0.0.2:7000"}, 0, "joined: 2 of the contacted addresses answered"},
		{"remove", []string{"remove", "n2"}, 0, "n2 is announced as left"},
		{"assassinate", []string{"assassinate", "--yes", "n2"}, 0, "n2 is assassinated"},
		{"leave", []string{"leave"}, 0, "n1 left the cluster"},
	}
	for _, addr := range []string{srv.URL, hostPort} {
		for _, tt := range tests {
			t.Run(tt.name+" "+addr, func(t *testing.T) {
				before := srv.overTLS.Load()
				args := append(tt.args, "--http", addr, "--http-ca", caFile)
				code, stdout, stderr := runCLI(t, args...)
				assert.Equal(t, tt.code, code, stderr)
				assert.Contains(t, stdout, tt.stdout)
				assert.Equal(t, before+1, srv.overTLS.Load(), "one request, over TLS")
			})
		}
	}
}

// TestHTTPSTrust: without --http-ca (the system's roots) or with another
// CA the agent's certificate is refused with a message that says what to
// do; so are a certificate for another name, a wrong scheme either way,
// and a --http-ca file that is missing or holds no certificate.
func TestHTTPSTrust(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	caFile := ca.WriteCA(t, dir, "ca")
	otherCA := tlstest.NewCA(t, "other CA").WriteCA(t, dir, "other")
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	srv := fakeTLSAgent(t, ca, "s3cret", "127.0.0.1")
	plain := fakeAgent(t, "")
	elsewhere := fakeTLSAgent(t, ca, "", "agent.example")

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"token over HTTPS", []string{"--http", srv.URL, "--http-ca", caFile, "--http-token", "s3cret"}, 0, nil},
		{"no token over HTTPS", []string{"--http", srv.URL, "--http-ca", caFile, "--http-token", "wrong"}, 1,
			[]string{"401 Unauthorized"}},
		{"system roots", []string{"--http", srv.URL}, 1,
			[]string{"cannot reach the agent at " + srv.URL, "certificate signed by unknown authority", "pass the CA that signed it with --http-ca FILE"}},
		{"another CA", []string{"--http", srv.URL, "--http-ca", otherCA}, 1,
			[]string{"certificate signed by unknown authority", "the CA in --http-ca " + otherCA + " did not sign the agent's certificate"}},
		{"certificate for another name", []string{"--http", elsewhere.URL, "--http-ca", caFile}, 1,
			[]string{"cannot validate certificate for 127.0.0.1", "a name or address the agent's certificate holds"}},
		{"http to an HTTPS agent", []string{"--http", strings.TrimPrefix(srv.URL, "https://")}, 1,
			[]string{"serves HTTPS: use --http " + srv.URL}},
		{"https to an HTTP agent", []string{"--http", strings.Replace(plain.URL, "http://", "https://", 1)}, 1,
			[]string{"server gave HTTP response to HTTPS client", "the agent serves plain HTTP: use --http " + plain.URL}},
		{"CA with http://", []string{"--http", plain.URL, "--http-ca", caFile}, 2,
			[]string{"--http-ca " + caFile + " is for an agent that serves HTTPS", "use https://"}},
		{"missing CA file", []string{"--http", srv.URL, "--http-ca", filepath.Join(dir, "none.pem")}, 2,
			[]string{"--http-ca", "no such file"}},
		{"CA file without a certificate", []string{"--http", srv.URL, "--http-ca", notPEM}, 2,
			[]string{"--http-ca " + notPEM + ": no PEM certificate"}},
		{"CA file too large", []string{"--http", srv.URL, "--http-ca", "/dev/zero"}, 2,
			[]string{"larger than 1 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"members"}, tt.args...)...)
			assert.Equal(t, tt.code, code, stderr)
			for _, w := range tt.stderr {
				assert.Contains(t, stderr, w)
			}
		})
	}
}
