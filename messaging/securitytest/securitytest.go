// Package securitytest makes the credentials of a secured transport for
// tests: certificate authorities and node certificates generated with
// crypto/x509 (ECDSA P-256), written as PEM files, and keyring files. It is
// for tests only; its keys are as random as real ones, but nothing here
// protects them.
package securitytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/messaging"
)

// CA is a certificate authority that issues node certificates.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the path of the CA's PEM certificate.
	File string
}

// NewCA creates a self-signed CA named name and writes its certificate to
// dir/name.pem.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("securitytest: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("securitytest: parse CA: %v", err)
	}
	ca := &CA{cert: cert, key: key, File: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// Files are the paths of one node's credentials.
type Files struct {
	// CA, Cert and Key are PEM files: the CA bundle, the node's
	// certificate and its private key.
	CA, Cert, Key string
}

// Security returns the transport configuration of f (mutual TLS).
func (f Files) Security() messaging.Security {
	return messaging.Security{CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key}
}

// Issue creates a node certificate signed by ca, valid for an hour each
// side of now, usable to dial and to accept, and writes it with its key to
// dir/file.crt and dir/file.key. Each name becomes a DNS SAN if it is a
// valid DNS name, else a URI SAN "hearsay:<name>". The CA file is ca.File.
func (ca *CA) Issue(t testing.TB, dir, file string, names ...string) Files {
	t.Helper()
	return ca.IssueValid(t, dir, file, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), names...)
}

// IssueValid is Issue with the given validity period.
func (ca *CA) IssueValid(t testing.TB, dir, file string, notBefore, notAfter time.Time, names ...string) Files {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: file},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if isDNSName(n) {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		} else {
			tmpl.URIs = append(tmpl.URIs, &url.URL{Scheme: messaging.URIScheme, Opaque: n})
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("securitytest: issue %s: %v", file, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("securitytest: marshal key: %v", err)
	}
	f := Files{CA: ca.File, Cert: filepath.Join(dir, file+".crt"), Key: filepath.Join(dir, file+".key")}
	writePEM(t, f.Cert, "CERTIFICATE", der)
	writePEM(t, f.Key, "PRIVATE KEY", kder)
	return f
}

// NewKey returns a new keyring key: 32 bytes from crypto/rand.
func NewKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, messaging.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatalf("securitytest: %v", err)
	}
	return k
}

// WriteKeyring writes keys to path in the keyring format, the first as
// primary, replacing the file at once (write to a temporary file, then
// rename), as an operator should.
func WriteKeyring(t testing.TB, path string, keys ...[]byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# hearsay keyring: the first key is the primary\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	writeAtomic(t, path, []byte(b.String()))
}

// Replace copies the files of src over those of dst (certificate and key),
// each replaced at once by a rename, as a certificate rotation would.
func Replace(t testing.TB, dst, src Files) {
	t.Helper()
	for _, p := range [][2]string{{src.Cert, dst.Cert}, {src.Key, dst.Key}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatalf("securitytest: %v", err)
		}
		writeAtomic(t, p[1], b)
	}
}

func writeAtomic(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatalf("securitytest: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("securitytest: %v", err)
	}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	writeAtomic(t, path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("securitytest: %v", err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 96))
	if err != nil {
		t.Fatalf("securitytest: %v", err)
	}
	return n
}

// isDNSName reports whether s can be a DNS SAN: labels of letters, digits
// and hyphens separated by dots.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
			if !ok {
				return false
			}
		}
	}
	return true
}
