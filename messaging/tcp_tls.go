package messaging

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"

	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Identity is who the peer of a TLS connection proved to be: the names of
// its certificate, which the CA vouched for. The gossiper accepts an
// envelope on such a connection only if Covers(envelope.From).
type Identity struct {
	// Names are the certificate's DNS SANs, and for each URI SAN of the
	// scheme "hearsay" ("hearsay:n3" or "hearsay://n3") the part after
	// the scheme ("n3"). Other SANs and the subject's CN are not names.
	Names []string
}

// Covers reports whether id is one of the names. Names are compared
// exactly (no wildcards, no case folding), since node IDs are opaque.
func (i *Identity) Covers(id string) bool { return slices.Contains(i.Names, id) }

// URIScheme is the scheme of a certificate's URI SAN that names a node
// whose ID is not a DNS name: "hearsay:<id>".
const URIScheme = "hearsay"

// identityOf returns the names of a verified peer certificate.
func identityOf(cert *x509.Certificate) *Identity {
	id := &Identity{Names: slices.Clone(cert.DNSNames)}
	for _, u := range cert.URIs {
		if u.Scheme != URIScheme {
			continue
		}
		name := u.Opaque
		if name == "" {
			name = u.Host + u.Path
		}
		if name = strings.TrimPrefix(name, "//"); name != "" {
			id.Names = append(id.Names, name)
		}
	}
	return id
}

// tlsFiles is the node's certificate, key and CA bundle, read from files
// and read again when any of them changes on disk: each new handshake
// compares the files' stamps (time, size, digest; at most once per
// tlsReloadInterval), so no goroutine polls them and a replaced certificate is used from the
// next connection on. A change that does not load (a half-written file, a
// key that does not match) leaves the previous credentials in use and is
// reported through onError. Safe for concurrent use.
type tlsFiles struct {
	ca, cert, key string
	id            string // a reloaded certificate must name it, if set
	onError       func(error)
	reloads       *atomic.Uint64 // counts successful reloads

	mu      sync.Mutex // guards the fields below
	stamps  [3]fileStamp
	checked time.Time
	pair    *tls.Certificate
	pool    *x509.CertPool
}

// tlsReloadInterval bounds how often a flood of handshakes stats the files.
const tlsReloadInterval = 100 * time.Millisecond

// newTLSFiles loads the credentials; an error names the file at fault.
func newTLSFiles(ca, cert, key string, onError func(error), reloads *atomic.Uint64) (*tlsFiles, error) {
	f := &tlsFiles{ca: ca, cert: cert, key: key, onError: onError, reloads: reloads}
	if err := f.load(f.stampsNow(), false); err != nil {
		return nil, err
	}
	return f, nil
}

// stampsNow returns the stamps of the CA, certificate and key files.
func (f *tlsFiles) stampsNow() [3]fileStamp {
	return [3]fileStamp{stampOf(f.ca), stampOf(f.cert), stampOf(f.key)}
}

// load reads the three files, whose stamps the caller has just taken.
// Called with mu held (or before sharing).
// A reloaded certificate must also be valid now, and name f.id if set:
// otherwise every peer would refuse this node, so the previous one is
// better.
func (f *tlsFiles) load(stamps [3]fileStamp, reload bool) error {
	pem, err := readBounded(f.ca, maxTLSFile)
	if err != nil {
		return fmt.Errorf("TLS CA %s: %w", f.ca, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("TLS CA %s: no PEM certificate in the file", f.ca)
	}
	certPEM, err := readBounded(f.cert, maxTLSFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s: %w", f.cert, err)
	}
	keyPEM, err := readBounded(f.key, maxTLSFile)
	if err != nil {
		return fmt.Errorf("TLS key %s: %w", f.key, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", f.cert, f.key, err)
	}
	if reload {
		leaf := pair.Leaf
		if leaf == nil { // GODEBUG=x509keypairleaf=0
			if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return fmt.Errorf("TLS certificate %s: %w", f.cert, err)
			}
		}
		if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return fmt.Errorf("TLS certificate %s is not valid now (%s): it is valid from %s until %s; peers would refuse it",
				f.cert, now.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if names := identityOf(leaf).Names; f.id != "" && !slices.Contains(names, f.id) {
			return fmt.Errorf("TLS certificate %s names %q, not this node's ID %q: peers would refuse every message of this node", f.cert, names, f.id)
		}
	}
	f.stamps, f.pool, f.pair, f.checked = stamps, pool, &pair, time.Now()
	return nil
}

// current returns the credentials in use, reloaded first if a file changed.
func (f *tlsFiles) current() (*tls.Certificate, *x509.CertPool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) >= tlsReloadInterval {
		f.checked = time.Now()
		if stamps := f.stampsNow(); stamps != f.stamps {
			if err := f.load(stamps, true); err != nil {
				// Keep the old credentials; try again on a later handshake.
				if f.onError != nil {
					f.onError(err)
				}
			} else {
				f.reloads.Add(1)
			}
		}
	}
	return f.pair, f.pool
}

// config returns the TLS configuration of one new connection: TLS 1.3
// only, this node's current certificate, and a peer certificate required
// and verified against the current CA bundle, on both sides. The dialer
// does not check the acceptor's names against the address it dialled
// (peers are known by address, not name): the gossiper checks them against
// the node ID in every envelope instead.
func (f *tlsFiles) config(server bool) *tls.Config {
	pair, pool := f.current()
	verify := func(cs tls.ConnectionState) error { return verifyPeer(cs, pool) }
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{*pair},
		VerifyConnection: verify,
	}
	if server {
		cfg.ClientAuth = tls.RequireAnyClientCert
	} else {
		// The chain is verified by VerifyConnection, without a host name.
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// errNoPeerCert is returned when the peer presents no certificate.
var errNoPeerCert = errors.New("the peer presented no certificate")

// verifyPeer checks the peer's certificate chain against pool. Any
// extended key usage is accepted, so one node certificate serves both to
// dial and to accept.
func verifyPeer(cs tls.ConnectionState, pool *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errNoPeerCert
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("peer certificate %q: %w", cs.PeerCertificates[0].Subject.String(), err)
	}
	return nil
}

// isRemoteTLSAlert reports whether err is an alert the TLS peer sent (it
// refused this node's certificate, say), which crypto/tls reports as a
// *net.OpError with Op "remote error".
func isRemoteTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// CertNames returns the names of the certificate in s.CertFile (its
// first PEM block), as a peer would see them in [Identity]: so that a node
// can check, before it starts, that its certificate names its own ID.
func (s Security) CertNames() ([]string, error) {
	cert, err := s.Cert()
	if err != nil {
		return nil, err
	}
	return identityOf(cert).Names, nil
}

// Cert returns the certificate in s.CertFile (its first PEM block), so
// that a node can check, before it starts, its names and its validity
// period.
func (s Security) Cert() (*x509.Certificate, error) {
	b, err := readBounded(s.CertFile, maxTLSFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", s.CertFile, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("TLS certificate %s: no PEM certificate in the file", s.CertFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", s.CertFile, err)
	}
	return cert, nil
}
