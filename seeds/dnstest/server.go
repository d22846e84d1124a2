// Package dnstest runs a small DNS server on 127.0.0.1 for tests, over UDP
// and TCP on the same port, serving A, AAAA and SRV records from a zone the
// test changes while the server runs. It also misbehaves on demand (see
// [Mode]): garbage replies, truncated replies, no reply, NXDOMAIN, SERVFAIL.
//
// It is built on github.com/miekg/dns and meant for the seeds package's
// tests and for end-to-end tests of the gossiper and the agent that find
// their seeds through DNS:
//
//	srv := dnstest.NewServer(t)
//	srv.SetA("hearsay.test.", "127.0.0.1", "127.0.0.2")
//	cfg := seeds.DefaultDNSConfig()
//	cfg.Name, cfg.Port, cfg.Server = "hearsay.test", 7000, srv.Addr()
//
// Names are case-insensitive; a trailing dot is optional. The server is
// authoritative for every name: a name that has no record at all gets
// NXDOMAIN, a name that has records of other types gets an empty answer.
package dnstest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearsay-io/hearsay/messaging/transporttest"
	"github.com/miekg/dns"
)

// Mode selects how the server replies.
type Mode int

const (
	// Answer replies from the zone. It is the initial mode.
	Answer Mode = iota
	// Garbage replies with bytes that carry the query's ID but are not a
	// DNS message.
	Garbage
	// Truncate replies over UDP with the TC bit set and the message cut
	// short, and answers fully over TCP, so a client must retry over TCP.
	Truncate
	// Drop never replies, so clients time out.
	Drop
	// NXDomain replies NXDOMAIN (the name does not exist) to every query.
	NXDomain
	// ServFail replies SERVFAIL to every query.
	ServFail
)

// TTL is the time to live of every record served, in seconds.
const TTL = 5

// SRV is one SRV record of [Server.SetSRV].
type SRV struct {
	// Target is the host name the record points to.
	Target string
	// Port is the port of the service on Target.
	Port uint16
	// Priority and Weight are served as given.
	Priority, Weight uint16
}

// Server is a running DNS server. Its methods are safe for concurrent use.
type Server struct {
	tb   testing.TB // nil for Start
	addr string
	udp  *dns.Server
	tcp  *dns.Server
	pc   net.PacketConn
	l    net.Listener
	wg   sync.WaitGroup // the two serve goroutines
	once sync.Once      // for Close

	mu   sync.Mutex // guards the fields below
	a    map[string][]netip.Addr
	aaaa map[string][]netip.Addr
	srv  map[string][]SRV
	mode Mode

	udpQueries, tcpQueries atomic.Int64
}

// NewServer starts a server for the test and stops it when the test ends.
// It fails the test if the server cannot start.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s, err := start(tb)
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a server outside a test (in an Example, say). The caller
// must Close it. Without a test to report to, the Set methods skip strings
// that are not addresses of the right family.
func Start() (*Server, error) { return start(nil) }

// start binds UDP and TCP on one free port of 127.0.0.1 and serves.
func start(tb testing.TB) (*Server, error) {
	s := &Server{tb: tb, a: map[string][]netip.Addr{}, aaaa: map[string][]netip.Addr{}, srv: map[string][]SRV{}}
	pc, l, err := listen()
	if err != nil {
		return nil, err
	}
	s.addr, s.pc, s.l = pc.LocalAddr().String(), pc, l
	started := make(chan struct{}, 2)
	failed := make(chan error, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		})
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for range 2 {
		select {
		case <-started:
		case err := <-failed:
			s.Close()
			return nil, fmt.Errorf("serve: %w", err)
		case <-timeout.C:
			s.Close()
			return nil, errors.New("server did not start within 10s")
		}
	}
	return s, nil
}

// quietBase is the lowest port listen draws from below the ephemeral range.
const quietBase = 10000

// listen binds a UDP socket and a TCP listener on the same port. It tries
// random ports below the kernel's ephemeral range first: a port from that
// range (what port 0 gives) is also where every outgoing TCP connection on
// the machine takes its local port, so under load the TCP half of an
// ephemeral UDP port is often taken. Then it falls back to port 0, a few
// times.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	if lo := transporttest.LowestEphemeralPort(); lo-quietBase > 1000 {
		for range 50 {
			addr := fmt.Sprintf("127.0.0.1:%d", quietBase+rand.IntN(lo-quietBase))
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				lastErr = err
				continue
			}
			l, err := net.Listen("tcp", addr)
			if err == nil {
				return pc, l, nil
			}
			lastErr = err
			_ = pc.Close()
		}
	}
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("listen tcp on the udp port: %w", lastErr)
}

// Addr returns the server's address, "127.0.0.1:port", for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and waits for its goroutines. Clients then get
// errors (UDP: connection refused). Close is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
		_ = s.pc.Close() // in case a server never started, so Shutdown did nothing
		_ = s.l.Close()
		s.wg.Wait()
	})
}

// SetA replaces the A records of name with ips, IPv4 addresses in text
// form. No ips removes them.
func (s *Server) SetA(name string, ips ...string) { s.setAddrs(s.a, "SetA", name, ips, true) }

// SetAAAA replaces the AAAA records of name with ips, IPv6 addresses in
// text form. No ips removes them.
func (s *Server) SetAAAA(name string, ips ...string) { s.setAddrs(s.aaaa, "SetAAAA", name, ips, false) }

// SetSRV replaces the SRV records of name. No records removes them.
func (s *Server) SetSRV(name string, records ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[canonical(name)] = append([]SRV(nil), records...)
}

// Remove removes every record of name, which then gets NXDOMAIN.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := canonical(name)
	delete(s.a, k)
	delete(s.aaaa, k)
	delete(s.srv, k)
}

// SetMode changes how the server replies from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// Queries returns how many queries arrived over network, "udp" or "tcp".
func (s *Server) Queries(network string) int64 {
	if network == "tcp" {
		return s.tcpQueries.Load()
	}
	return s.udpQueries.Load()
}

// setAddrs parses and stores addresses of one family.
func (s *Server) setAddrs(m map[string][]netip.Addr, method, name string, ips []string, v4 bool) {
	var addrs []netip.Addr
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Is4() != v4 {
			if s.tb != nil {
				s.tb.Errorf("dnstest: %s(%q): %q is not an address of the record's family", method, name, ip)
			}
			continue
		}
		addrs = append(addrs, a)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		delete(m, canonical(name))
		return
	}
	m[canonical(name)] = addrs
}

// canonical is the zone key of a name: lower case, fully qualified.
func canonical(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// serve answers one query according to the mode.
func (s *Server) serve(w dns.ResponseWriter, q *dns.Msg) {
	udp := w.LocalAddr().Network() == "udp"
	if udp {
		s.udpQueries.Add(1)
	} else {
		s.tcpQueries.Add(1)
	}
	s.mu.Lock()
	mode := s.mode
	r := s.reply(q)
	s.mu.Unlock()
	switch mode {
	case Drop:
		return
	case Garbage:
		_, _ = w.Write(garbage(q.Id))
		return
	case NXDomain:
		r.Answer = nil
		r.Rcode = dns.RcodeNameError
	case ServFail:
		r.Answer = nil
		r.Rcode = dns.RcodeServerFailure
	case Truncate:
		if udp {
			r.Truncated = true
			b, err := r.Pack()
			if err == nil && len(r.Answer) > 0 {
				b = b[:len(b)-1] // cut into the last record, as a middlebox would
			}
			if err == nil {
				_, _ = w.Write(b)
			}
			return
		}
	}
	_ = w.WriteMsg(r)
}

// reply builds the answer from the zone. The caller holds s.mu.
func (s *Server) reply(q *dns.Msg) *dns.Msg {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Authoritative = true
	if opt := q.IsEdns0(); opt != nil {
		r.SetEdns0(opt.UDPSize(), false)
	}
	if len(q.Question) != 1 {
		r.Rcode = dns.RcodeFormatError
		return r
	}
	qn := q.Question[0]
	name := canonical(qn.Name)
	_, hasA := s.a[name]
	_, hasAAAA := s.aaaa[name]
	_, hasSRV := s.srv[name]
	if !hasA && !hasAAAA && !hasSRV {
		r.Rcode = dns.RcodeNameError
		return r
	}
	hdr := dns.RR_Header{Name: qn.Name, Class: dns.ClassINET, Ttl: TTL, Rrtype: qn.Qtype}
	switch qn.Qtype {
	case dns.TypeA:
		for _, a := range s.a[name] {
			r.Answer = append(r.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
		}
	case dns.TypeAAAA:
		for _, a := range s.aaaa[name] {
			r.Answer = append(r.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	case dns.TypeSRV:
		for _, rec := range s.srv[name] {
			r.Answer = append(r.Answer, &dns.SRV{Hdr: hdr, Priority: rec.Priority, Weight: rec.Weight, Port: rec.Port, Target: dns.Fqdn(rec.Target)})
		}
	}
	return r
}

// garbage returns a reply that has the query's ID and a response header
// announcing one question and three answers, followed by bytes that are
// not records.
func garbage(id uint16) []byte {
	b := []byte{byte(id >> 8), byte(id), 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0}
	return append(b, 0xff, 0x07, 'g', 'a', 'r', 'b', 'a', 'g', 'e', 0xc0, 0xff, 0x00, 0x01)
}
