package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// certCheckInterval is how often, at most, the API's certificate and key
// files are looked at again (one stat of each): a handshake that comes
// later than this after the last look checks their modification times and
// sizes, and reloads the pair when either changed. A flood of handshakes
// costs at most two stats a second.
const certCheckInterval = time.Second

// certFiles serves the API's certificate from --http-tls-cert and
// --http-tls-key, reloaded when the files change on disk so that a renewed
// certificate is used by new connections without a restart. A pair that
// fails to load (a key written after its certificate, a broken file) is
// logged once and the previous certificate is kept; the pair is tried
// again when either file changes once more. It is safe for concurrent use.
type certFiles struct {
	certFile, keyFile string
	every             time.Duration    // at most one look at the files per every
	now               func() time.Time // the clock (tests drive it)
	log               zerolog.Logger

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	tried   fileStamp // the files as they were when last loaded or tried
	checked time.Time // when the files were last looked at
	reloads [2]uint64 // pairs reloaded after a change: loaded, failed
}

// fileStamp is what tells that a file changed: its modification time and
// size, for the certificate and the key.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// loadCertFiles reads the certificate and key pair the API serves, and
// fails with a message naming the flags when it cannot.
func loadCertFiles(certFile, keyFile string, every time.Duration, log zerolog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, every: every, now: time.Now, log: log}
	st, err := c.stamp()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.tried, c.checked = cert, st, c.now()
	return c, nil
}

// tlsConfig returns the API server's TLS configuration: TLS 1.2 or later
// (Go negotiates 1.3 with every client that has it), the certificate
// from the files.
func (c *certFiles) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate}
}

// getCertificate is the tls.Config hook: the current certificate, after
// a reload if the files changed and the last look is older than every.
func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.checked) < c.every {
		return c.cert, nil
	}
	c.checked = now
	st, err := c.stamp()
	if err != nil || st == c.tried {
		if err != nil && c.tried != (fileStamp{}) {
			c.tried = fileStamp{} // log the failure once, until the files are back
			c.log.Warn().Err(err).Msg("admin API certificate files unreadable; still serving the loaded certificate")
		}
		return c.cert, nil
	}
	c.tried = st
	cert, err := c.load()
	if err != nil {
		c.reloads[1]++
		c.log.Warn().Err(err).Msg("admin API certificate changed on disk but does not load; still serving the previous one")
		return c.cert, nil
	}
	c.cert = cert
	c.reloads[0]++
	c.log.Info().Str("subject", cert.Leaf.Subject.String()).Time("not_after", cert.Leaf.NotAfter).
		Msg("admin API certificate reloaded")
	return c.cert, nil
}

// tlsMetrics exports the served certificate's expiry and the reloads, when
// the API serves HTTPS.
func (a *Agent) tlsMetrics() []prometheus.Collector {
	c := a.certs
	if c == nil {
		return nil
	}
	read := func(f func() float64) func() float64 {
		return func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return f()
		}
	}
	out := []prometheus.Collector{prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearsay_http_tls_certificate_expiry_timestamp_seconds",
		Help: "When the certificate the admin API serves expires (Unix time).",
	}, read(func() float64 { return float64(c.cert.Leaf.NotAfter.Unix()) }))}
	for i, result := range []string{"loaded", "failed"} {
		out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "hearsay_http_tls_reloads_total",
			Help:        "Certificate and key pairs of the admin API read again after they changed on disk, by result: loaded (served from then on) or failed (the previous one kept).",
			ConstLabels: prometheus.Labels{"result": result},
		}, read(func() float64 { return float64(c.reloads[i]) })))
	}
	return out
}

// stamp returns the files' modification times and sizes.
func (c *certFiles) stamp() (fileStamp, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("--http-tls-cert: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("--http-tls-key: %w", err)
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// load reads and checks the pair, and warns when the certificate is
// outside its validity period (clients will refuse it).
func (c *certFiles) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--http-tls-cert %s with --http-tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil { // GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("--http-tls-cert %s: %w", c.certFile, err)
		}
	}
	if now := c.now(); now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
		c.log.Warn().Str("file", c.certFile).Time("not_before", cert.Leaf.NotBefore).Time("not_after", cert.Leaf.NotAfter).
			Msg("admin API certificate is not valid now; clients will refuse it")
	}
	return &cert, nil
}
