package seeds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size advertised with EDNS0, the DNS flag day
// 2020 recommendation: answers larger than this come back truncated and are
// fetched again over TCP.
const ednsSize = 1232

// srvTarget is one SRV record: a target host (lower case, no trailing dot)
// and a port.
type srvTarget struct {
	host string
	port uint16
}

// lookuper asks one resolver. Each call is one try, bounded by ctx. An empty
// result with a nil error means the name exists without such records.
type lookuper interface {
	lookupAddrs(ctx context.Context, host string, fam Family) ([]netip.Addr, error)
	lookupSRV(ctx context.Context, name string) ([]srvTarget, error)
}

// systemLookup asks Go's resolver, which reads /etc/hosts and
// /etc/resolv.conf and handles truncation itself.
type systemLookup struct{ r *net.Resolver }

func (l systemLookup) lookupAddrs(ctx context.Context, host string, fam Family) ([]netip.Addr, error) {
	network := map[Family]string{FamilyAny: "ip", FamilyIPv4: "ip4", FamilyIPv6: "ip6"}[fam]
	addrs, err := l.r.LookupNetIP(ctx, network, host)
	var ae *net.AddrError
	if errors.As(err, &ae) { // the name exists, without addresses of this family
		return nil, nil
	}
	return addrs, systemError(err)
}

func (l systemLookup) lookupSRV(ctx context.Context, name string) ([]srvTarget, error) {
	_, recs, err := l.r.LookupSRV(ctx, "", "", name)
	if err != nil && len(recs) == 0 {
		return nil, systemError(err)
	}
	out := make([]srvTarget, 0, len(recs))
	for _, r := range recs {
		out = append(out, srvTarget{host: lowerName(r.Target), port: r.Port})
	}
	return out, nil
}

// systemError marks "no such host" with ErrNotFound.
func systemError(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// serverLookup asks one DNS server with github.com/miekg/dns: over UDP,
// again over TCP when the answer is truncated.
type serverLookup struct {
	server  string
	timeout time.Duration
}

func (l serverLookup) lookupAddrs(ctx context.Context, host string, fam Family) ([]netip.Addr, error) {
	if fam != FamilyAny {
		qtype := dns.TypeA
		if fam == FamilyIPv6 {
			qtype = dns.TypeAAAA
		}
		return l.addrQuery(ctx, host, qtype)
	}
	var (
		wg     sync.WaitGroup
		a4, a6 []netip.Addr
		e4, e6 error
	)
	wg.Go(func() { a4, e4 = l.addrQuery(ctx, host, dns.TypeA) })
	wg.Go(func() { a6, e6 = l.addrQuery(ctx, host, dns.TypeAAAA) })
	wg.Wait()
	switch {
	case e4 == nil && e6 == nil:
		return append(a4, a6...), nil
	case e4 == nil && len(a4) > 0:
		return a4, nil // AAAA failed; the IPv4 addresses are enough
	case e6 == nil && len(a6) > 0:
		return a6, nil
	case e4 != nil && e6 != nil && isDefinite(e4) && isDefinite(e6):
		return nil, e4 // both NXDOMAIN: one error says it
	}
	return nil, errors.Join(e4, e6)
}

// addrQuery asks for A or AAAA records of host.
func (l serverLookup) addrQuery(ctx context.Context, host string, qtype uint16) ([]netip.Addr, error) {
	rrs, err := l.query(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	return addrsOf(rrs, qtype), nil
}

// addrsOf returns the addresses in the records of type qtype (A or AAAA).
func addrsOf(rrs []dns.RR, qtype uint16) []netip.Addr {
	var out []netip.Addr
	for _, rr := range rrs {
		if rr == nil {
			continue
		}
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok && rr.Header().Rrtype == qtype {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func (l serverLookup) lookupSRV(ctx context.Context, name string) ([]srvTarget, error) {
	rrs, err := l.query(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	return srvsOf(rrs), nil
}

// srvsOf returns the targets of the SRV records among rrs.
func srvsOf(rrs []dns.RR) []srvTarget {
	var out []srvTarget
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, srvTarget{host: lowerName(s.Target), port: s.Port})
		}
	}
	return out
}

// query asks the server one question and returns the answer records that
// belong to the name or to the CNAME chain that starts at it.
func (l serverLookup) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(ednsSize, false)
	what := dns.TypeToString[qtype] + " " + q.Question[0].Name
	r, err := l.exchange(ctx, "udp", q)
	if r != nil && r.Truncated && r.Id == q.Id {
		r, err = l.exchange(ctx, "tcp", q) // a truncated answer, readable or not: ask again over TCP
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkReply(q, r); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return chainRecords(q.Question[0].Name, r.Answer), nil
}

// exchange sends q over network and reads the reply. It gives up when ctx is
// done, cancelled or past its deadline.
func (l serverLookup) exchange(ctx context.Context, network string, q *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: l.timeout, UDPSize: ednsSize}
	conn, err := c.DialContext(ctx, l.server)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", network, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return r, fmt.Errorf("exchange over %s: %w", network, err)
	}
	return r, nil
}

// checkReply rejects replies that are not an answer to q.
func checkReply(q, r *dns.Msg) error {
	switch {
	case !r.Response:
		return errors.New("reply is not a response")
	case r.Truncated:
		return errors.New("reply is truncated even over tcp")
	case len(r.Question) > 0 && !strings.EqualFold(r.Question[0].Name, q.Question[0].Name),
		len(r.Question) > 0 && r.Question[0].Qtype != q.Question[0].Qtype:
		return fmt.Errorf("reply is for another question (%s)", r.Question[0].String())
	case r.Rcode == dns.RcodeNameError:
		return ErrNotFound
	case r.Rcode != dns.RcodeSuccess:
		rc, ok := dns.RcodeToString[r.Rcode]
		if !ok {
			rc = "rcode " + strconv.Itoa(r.Rcode)
		}
		return fmt.Errorf("server answered %s", rc)
	}
	return nil
}

// chainRecords returns the records owned by name or by a name it is an
// alias of, following CNAME records in the answer.
func chainRecords(name string, answer []dns.RR) []dns.RR {
	owners := map[string]bool{strings.ToLower(name): true}
	for grew := true; grew; {
		grew = false
		for _, rr := range answer {
			c, ok := rr.(*dns.CNAME)
			if ok && owners[strings.ToLower(c.Hdr.Name)] && !owners[strings.ToLower(c.Target)] {
				owners[strings.ToLower(c.Target)] = true
				grew = true
			}
		}
	}
	var out []dns.RR
	for _, rr := range answer {
		if rr != nil && owners[strings.ToLower(rr.Header().Name)] {
			out = append(out, rr)
		}
	}
	return out
}
