package agent

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging"
)

// GossipSecurity is how the agent protects its gossip connections (see
// docs/security.md): mutual TLS (--tls-ca, --tls-cert, --tls-key), a
// keyring (--keyring), or neither. The files are read again when they
// change, so certificates and keys rotate without a restart.
type GossipSecurity struct {
	// TLSCA is the PEM bundle of the CA peers' certificates must chain
	// to (--tls-ca).
	TLSCA string
	// TLSCert is this node's PEM certificate, whose DNS or
	// "hearsay:<id>" URI SANs must name --id (--tls-cert).
	TLSCert string
	// TLSKey is TLSCert's PEM private key (--tls-key).
	TLSKey string
	// Keyring is the keyring file: base64 keys, one a line, the first
	// used to send (--keyring; `hearsay keygen` prints a key).
	Keyring string
	// Datagrams is "on", "off" or "" (on, off with mutual TLS): whether
	// echoes go as UDP datagrams on the gossip port (--datagrams;
	// messaging.TCPConfig.Datagrams).
	Datagrams string
}

// defineSecurity declares the gossip security flags.
func (p *parser) defineSecurity() {
	o := p.o
	p.str("tls-ca", &o.TLSCA, "mutual TLS for gossip: PEM `file` of the CA that signs every node's certificate")
	p.str("tls-cert", &o.TLSCert, "mutual TLS for gossip: this node's PEM certificate `file`, with --id as a DNS SAN or hearsay:<id> URI SAN")
	p.str("tls-key", &o.TLSKey, "mutual TLS for gossip: the PEM private key `file` of --tls-cert")
	p.str("keyring", &o.Keyring, "encrypt gossip with the keys of this `file` (base64, one a line, first = primary; see hearsay keygen)")
	p.add("datagrams", func() string { return o.Datagrams }, func(s string) error {
		if s != messaging.DatagramsOn && s != messaging.DatagramsOff {
			return fmt.Errorf("want on or off, not %q", s)
		}
		o.Datagrams = s
		return nil
	}, "send echoes as UDP datagrams on the gossip port: `on` or off (default on, off with --tls-*)")
}

// security returns the transport security the options name.
func (o Options) security() messaging.Security {
	return messaging.Security{CAFile: o.TLSCA, CertFile: o.TLSCert, KeyFile: o.TLSKey, KeyringFile: o.Keyring, Cluster: o.Cluster}
}

// applySecurity sets the gossiper's transport security.
func (o Options) applySecurity(cfg *gossiper.Config) {
	cfg.TCP.Security = o.security()
	cfg.TCP.Datagrams = o.Datagrams
}

// checkSecurity reads the files the security flags name, so that a typo
// or a bad file stops the agent at once with the flag's name.
func (o Options) checkSecurity() error {
	tlsSet := o.TLSCA != "" || o.TLSCert != "" || o.TLSKey != ""
	var errs []error
	if tlsSet {
		for _, f := range []struct{ flag, val string }{{"tls-ca", o.TLSCA}, {"tls-cert", o.TLSCert}, {"tls-key", o.TLSKey}} {
			if f.val == "" {
				errs = append(errs, fmt.Errorf("--%s is required with --tls-ca, --tls-cert and --tls-key: mutual TLS needs all three", f.flag))
			}
		}
		if o.Keyring != "" {
			errs = append(errs, errors.New("--keyring and --tls-* exclude each other: choose mutual TLS or a keyring (TLS already encrypts)"))
		}
		if o.Datagrams == messaging.DatagramsOn {
			errs = append(errs, errors.New("--datagrams on and --tls-* exclude each other: TLS cannot protect a datagram (echoes go on TCP); use a keyring for sealed datagrams"))
		}
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	if !tlsSet && o.Keyring == "" {
		return nil
	}
	if err := o.security().Check(); err != nil {
		flags := "--keyring"
		if tlsSet {
			flags = "--tls-ca, --tls-cert, --tls-key"
		}
		return usageErrorf("invalid %s: %w", flags, err)
	}
	if tlsSet {
		cert, err := o.security().Cert()
		if err != nil {
			return usageErrorf("invalid --tls-cert: %w", err)
		}
		if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return usageErrorf("invalid --tls-cert %s: not valid now (%s): it is valid from %s until %s; every peer would refuse it: issue a new one",
				o.TLSCert, now.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
		}
		names, err := o.security().CertNames()
		if err != nil {
			return usageErrorf("invalid --tls-cert: %w", err)
		}
		if !slices.Contains(names, o.ID) {
			return usageErrorf("invalid --tls-cert %s: it names %q, not --id %q: issue it with the SAN DNS:%s (or URI:%s:%s), or every peer refuses this node's messages",
				o.TLSCert, names, o.ID, o.ID, messaging.URIScheme, o.ID)
		}
	}
	return nil
}
