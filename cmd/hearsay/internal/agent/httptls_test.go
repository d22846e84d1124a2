package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/tlstest"
)

// startHTTPSAgent starts an agent whose API serves HTTPS on a real
// 127.0.0.1 listener with the certificate and key files given.
func startHTTPSAgent(t *testing.T, certFile, keyFile string, mutate func(*Options)) *Agent {
	t.Helper()
	o := DefaultOptions()
	o.ID, o.Bind, o.HTTP, o.DataDir = "node-tls", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	o.Interval = 20 * time.Millisecond
	o.HTTPTLSCert, o.HTTPTLSKey = certFile, keyFile
	if mutate != nil {
		mutate(&o)
	}
	a, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	return a
}

// tlsClient returns a client that trusts only pool, opens a new
// connection for every request (so that each one sees the certificate
// served at that time), and uses TLS versions up to maxVersion (0: any).
func tlsClient(t *testing.T, pool *x509.CertPool, maxVersion uint16) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion},
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends GET url with an optional bearer token and returns the
// response with its body read.
func get(c *http.Client, url, token string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestHTTPSAPI: with --http-tls-cert and --http-tls-key the API serves
// HTTPS (TLS 1.3 when the client has it, 1.2 accepted, older refused),
// to clients that trust its CA only, and still requires the bearer
// token; a plain HTTP request is refused.
func TestHTTPSAPI(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	certFile, keyFile, _ := ca.WriteServer(t, dir, "127.0.0.1", "localhost")
	a := startHTTPSAgent(t, certFile, keyFile, func(o *Options) { o.HTTPToken = "s3cret" })
	base := "https://" + a.HTTPAddr()

	c := tlsClient(t, ca.Pool(), 0)
	resp, body, err := get(c, base+"/healthz", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version, "TLS 1.3 with a client that has it")

	resp, body, err = get(c, base+"/v1/members", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token still applies over HTTPS")
	assert.Contains(t, body, "missing or wrong bearer token")
	resp, body, err = get(c, base+"/v1/members", "s3cret")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, `"id": "node-tls"`)

	resp, _, err = get(tlsClient(t, ca.Pool(), tls.VersionTLS12), base+"/healthz", "")
	require.NoError(t, err, "TLS 1.2 is accepted")
	assert.Equal(t, uint16(tls.VersionTLS12), resp.TLS.Version)

	_, _, err = get(tlsClient(t, ca.Pool(), tls.VersionTLS11), base+"/healthz", "")
	require.Error(t, err, "TLS 1.1 is refused")
	assert.Contains(t, err.Error(), "protocol version")

	_, _, err = get(tlsClient(t, tlstest.NewCA(t, "other CA").Pool(), 0), base+"/healthz", "")
	require.Error(t, err, "a client that does not trust the CA refuses the server")
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")

	resp, body, err = get(&http.Client{Timeout: 10 * time.Second}, "http://"+a.HTTPAddr()+"/healthz", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP is refused")
	assert.Contains(t, body, "HTTP request to an HTTPS server")
}

// servedSerial connects to addr anew and returns the serial number of
// the certificate the server presents.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// touch gives path a modification time of its own, later than any
// before: two writes within one tick of the file system's clock can
// leave the same time, and a renewed certificate is written long after
// the one it replaces.
func touch(t *testing.T, path string, at time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(path, at, at))
}

// TestHTTPSCertificateReloaded: a certificate replaced on disk is served
// to new connections without a restart; a replacement that does not
// load (a key that does not match) keeps the previous certificate in
// service until the pair is whole again.
func TestHTTPSCertificateReloaded(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	certFile, keyFile, first := ca.WriteServer(t, dir, "127.0.0.1")
	a := startHTTPSAgent(t, certFile, keyFile, func(o *Options) { o.certCheckEvery = time.Nanosecond })
	addr := a.HTTPAddr()
	require.Equal(t, first, servedSerial(t, addr, ca.Pool()))

	mtime := time.Now().Add(time.Minute)
	_, _, second := ca.WriteServer(t, dir, "127.0.0.1")
	touch(t, certFile, mtime)
	touch(t, keyFile, mtime)
	assert.Equal(t, second, servedSerial(t, addr, ca.Pool()), "the new certificate, without a restart")

	// A new certificate whose key is not written yet: the pair does not
	// match, the second certificate stays in service.
	thirdCert, thirdKey, third := ca.Issue(t, "127.0.0.1")
	require.NoError(t, os.WriteFile(certFile, thirdCert, 0o600))
	touch(t, certFile, mtime.Add(time.Minute))
	assert.Equal(t, second, servedSerial(t, addr, ca.Pool()), "a broken pair is not served")
	resp, _, err := get(tlsClient(t, ca.Pool(), 0), "https://"+addr+"/healthz", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, os.WriteFile(keyFile, thirdKey, 0o600))
	touch(t, keyFile, mtime.Add(time.Minute))
	assert.Equal(t, third, servedSerial(t, addr, ca.Pool()), "the pair is whole again")

	_, metrics, err := get(tlsClient(t, ca.Pool(), 0), "https://"+addr+"/metrics", "")
	require.NoError(t, err)
	assert.Contains(t, metrics, `hearsay_http_tls_reloads_total{result="loaded"} 2`)
	assert.Contains(t, metrics, `hearsay_http_tls_reloads_total{result="failed"} 1`)
	block, _ := pem.Decode(thirdCert)
	require.NotNil(t, block)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	m := regexp.MustCompile(`\nhearsay_http_tls_certificate_expiry_timestamp_seconds (\S+)\n`).FindStringSubmatch(metrics)
	require.Len(t, m, 2, metrics)
	expiry, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.Equal(t, float64(leaf.NotAfter.Unix()), expiry, "the served certificate's expiry")
}

// TestCertFilesCheckBounded: the files are looked at most once per
// interval, however many handshakes come; unreadable files are logged
// once and the loaded certificate stays in service.
func TestCertFilesCheckBounded(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	certFile, keyFile, first := ca.WriteServer(t, dir, "127.0.0.1")
	var logs bytes.Buffer
	c, err := loadCertFiles(certFile, keyFile, time.Second, zerolog.New(&logs))
	require.NoError(t, err)
	now := time.Now()
	c.now = func() time.Time { return now }
	c.checked = now
	serial := func() *big.Int {
		cert, err := c.getCertificate(nil)
		require.NoError(t, err)
		return cert.Leaf.SerialNumber
	}
	require.Equal(t, first, serial())

	_, _, second := ca.WriteServer(t, dir, "127.0.0.1")
	touch(t, certFile, now.Add(time.Minute))
	touch(t, keyFile, now.Add(time.Minute))
	for range 100 {
		assert.Equal(t, first, serial(), "not looked at again within the interval")
	}
	now = now.Add(999 * time.Millisecond)
	assert.Equal(t, first, serial())
	now = now.Add(time.Millisecond)
	assert.Equal(t, second, serial(), "looked at once the interval has passed")
	assert.Contains(t, logs.String(), "admin API certificate reloaded")

	require.NoError(t, os.Rename(certFile, certFile+".moved"))
	for range 5 {
		now = now.Add(time.Second)
		assert.Equal(t, second, serial(), "the loaded certificate stays while the file is gone")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "unreadable"), "logged once:\n%s", logs.String())

	require.NoError(t, os.Rename(certFile+".moved", certFile))
	_, _, third := ca.WriteServer(t, dir, "127.0.0.1")
	touch(t, certFile, now.Add(time.Hour))
	touch(t, keyFile, now.Add(time.Hour))
	now = now.Add(time.Second)
	assert.Equal(t, third, serial(), "back once the files are")
}

// TestHTTPTLSOptions: --http-tls-cert and --http-tls-key go together, with
// the API on, and name files that hold a matching pair; the
// configuration file takes them under the flags' names.
func TestHTTPTLSOptions(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	certFile, keyFile, _ := ca.WriteServer(t, dir, "127.0.0.1")
	_, otherKey, _ := ca.Issue(t, "127.0.0.1")
	wrongKey := writeFile(t, "wrong.key", string(otherKey))

	parseErrors := []struct {
		name string
		args []string
		want string
	}{
		{"cert alone", []string{"--http-tls-cert", certFile}, "--http-tls-cert needs --http-tls-key"},
		{"key alone", []string{"--http-tls-key", keyFile}, "--http-tls-key needs --http-tls-cert"},
		{"API off", []string{"--http", "", "--http-tls-cert", certFile, "--http-tls-key", keyFile}, "--http is empty"},
	}
	for _, tt := range parseErrors {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOptions(tt.args, testEnv(), nil)
			require.Error(t, err)
			var ue *UsageError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	newErrors := []struct {
		name      string
		cert, key string
		want      []string
	}{
		{"missing cert", dir + "/none.crt", keyFile, []string{"--http-tls-cert", "no such file"}},
		{"missing key", certFile, dir + "/none.key", []string{"--http-tls-key", "no such file"}},
		{"key of another certificate", certFile, wrongKey, []string{"--http-tls-cert " + certFile, "--http-tls-key " + wrongKey, "private key does not match public key"}},
		{"not a certificate", keyFile, keyFile, []string{"--http-tls-cert", "failed to find certificate PEM data"}},
	}
	for _, tt := range newErrors {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseOptions([]string{"--http-tls-cert", tt.cert, "--http-tls-key", tt.key, "--data-dir", t.TempDir()}, testEnv(), nil)
			require.NoError(t, err)
			_, err = New(o, zerolog.Nop())
			require.Error(t, err)
			var ue *UsageError
			require.ErrorAs(t, err, &ue)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	cfg := writeFile(t, "h.json", `{"http-tls-cert": "`+certFile+`", "http-tls-key": "`+keyFile+`"}`)
	o, err := ParseOptions([]string{"--config", cfg}, testEnv(), nil)
	require.NoError(t, err)
	assert.Equal(t, certFile, o.HTTPTLSCert)
	assert.Equal(t, keyFile, o.HTTPTLSKey)
	half := writeFile(t, "half.json", `{"http-tls-key": "`+keyFile+`"}`)
	_, err = ParseOptions([]string{"--config", half}, testEnv(), nil)
	assert.ErrorContains(t, err, "--http-tls-key needs --http-tls-cert")
}

// TestEventStreamOverHTTP2OutlivesKeepAlives: over HTTPS the event stream
// is HTTP/2, where a write deadline left set fires during the wait and
// resets the stream; an idle stream must outlive several keep-alives,
// each longer than the write timeout (as 15 s is longer than 10 s in
// production).
func TestEventStreamOverHTTP2OutlivesKeepAlives(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	certFile, keyFile, _ := ca.WriteServer(t, dir, "127.0.0.1")
	a := startHTTPSAgent(t, certFile, keyFile, func(o *Options) {
		o.keepAlive, o.writeTimeout = 300*time.Millisecond, 100*time.Millisecond
	})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get("https://" + a.HTTPAddr() + "/v1/events?kinds=remove")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor, "HTTP/2 over TLS")
	r := bufio.NewReader(resp.Body)
	keepAlives := 0
	for keepAlives < 3 {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "the stream ended after %d keep-alives", keepAlives)
		if line == ": keep-alive\n" {
			keepAlives++
		}
	}
}
