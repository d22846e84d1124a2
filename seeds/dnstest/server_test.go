package dnstest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ask sends one question over network and returns the reply.
func ask(t *testing.T, s *Server, network, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 200 * time.Millisecond}
	r, _, err := c.ExchangeContext(context.Background(), q, s.Addr())
	return r, err
}

func TestServerAnswers(t *testing.T) {
	s := NewServer(t)
	s.SetA("Node.Test", "127.0.0.1", "127.0.0.2")
	s.SetAAAA("node.test.", "::1")
	s.SetSRV("_g._tcp.test", SRV{Target: "node.test", Port: 7000, Priority: 1, Weight: 2})

	for _, network := range []string{"udp", "tcp"} {
		r, err := ask(t, s, network, "node.test", dns.TypeA)
		require.NoError(t, err)
		assert.Len(t, r.Answer, 2)
		r, err = ask(t, s, network, "NODE.test", dns.TypeAAAA)
		require.NoError(t, err)
		require.Len(t, r.Answer, 1)
		assert.Equal(t, net.ParseIP("::1"), r.Answer[0].(*dns.AAAA).AAAA)
		r, err = ask(t, s, network, "_g._tcp.test", dns.TypeSRV)
		require.NoError(t, err)
		require.Len(t, r.Answer, 1)
		srv := r.Answer[0].(*dns.SRV)
		assert.Equal(t, SRV{Target: "node.test.", Port: 7000, Priority: 1, Weight: 2}, SRV{srv.Target, srv.Port, srv.Priority, srv.Weight})
		r, err = ask(t, s, network, "node.test", dns.TypeSRV)
		require.NoError(t, err)
		assert.Equal(t, dns.RcodeSuccess, r.Rcode)
		assert.Empty(t, r.Answer, "a known name without such records")
		r, err = ask(t, s, network, "missing.test", dns.TypeA)
		require.NoError(t, err)
		assert.Equal(t, dns.RcodeNameError, r.Rcode)
	}
	assert.Equal(t, int64(5), s.Queries("udp"))
	assert.Equal(t, int64(5), s.Queries("tcp"))

	s.Remove("node.test")
	r, err := ask(t, s, "udp", "node.test", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeNameError, r.Rcode)
}

func TestServerModes(t *testing.T) {
	s := NewServer(t)
	s.SetA("node.test", "127.0.0.1")

	s.SetMode(Truncate)
	r, err := ask(t, s, "udp", "node.test", dns.TypeA)
	require.Error(t, err, "the UDP reply is cut short")
	require.NotNil(t, r)
	assert.True(t, r.Truncated)
	r, err = ask(t, s, "tcp", "node.test", dns.TypeA)
	require.NoError(t, err)
	assert.Len(t, r.Answer, 1)

	s.SetMode(Garbage)
	_, err = ask(t, s, "udp", "node.test", dns.TypeA)
	require.Error(t, err)

	s.SetMode(Drop)
	_, err = ask(t, s, "udp", "node.test", dns.TypeA)
	require.Error(t, err)

	s.SetMode(NXDomain)
	r, err = ask(t, s, "udp", "node.test", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeNameError, r.Rcode)

	s.SetMode(ServFail)
	r, err = ask(t, s, "udp", "node.test", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeServerFailure, r.Rcode)
}

func TestServerClose(t *testing.T) {
	s, err := Start()
	require.NoError(t, err)
	s.SetA("node.test", "127.0.0.1", "::1", "junk") // invalid ones skipped without a test to report to
	r, err := ask(t, s, "udp", "node.test", dns.TypeA)
	require.NoError(t, err)
	assert.Len(t, r.Answer, 1)
	s.Close()
	s.Close()
	_, err = ask(t, s, "udp", "node.test", dns.TypeA)
	require.Error(t, err)
}
