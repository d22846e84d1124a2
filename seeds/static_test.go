package seeds

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

func TestStaticValidation(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		port    int
		want    []string
	}{
		{"bad port", []string{"10.0.0.1:0"}, 7000, []string{`entry 1 "10.0.0.1:0": port 0 is out of range`}},
		{"every bad entry named", []string{"10.0.0.1", "bad host", "10.0.0.2:x", "[::1"},
			7000, []string{`entry 2 "bad host"`, `entry 3 "10.0.0.2:x"`, `entry 4 "[::1"`}},
		{"no default port", []string{"10.0.0.1:7000", "10.0.0.2"}, 0, []string{`entry 2 "10.0.0.2": no port`}},
		{"default port out of range", []string{"10.0.0.1"}, 65536, []string{"default port 65536"}},
		{"empty", nil, 7000, []string{"no seeds: the list is empty"}},
		{"only blanks", []string{"", "  "}, 7000, []string{"no seeds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewStatic(tt.entries, tt.port)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := NewStatic([]string{"10.0.0.1"}, 7000, WithDNSConfig(DNSConfig{Attempts: 99}))
	require.ErrorContains(t, err, "Attempts 99")
}

func TestStaticAddresses(t *testing.T) {
	s, err := NewStatic([]string{
		" 10.0.0.2 ", "10.0.0.1:7000", "10.0.0.2:7000", "[::ffff:10.0.0.1]:7000", // duplicates
		"::1", "[::1]:7001", "fd00::10", "", // IPv6, blank skipped (a trailing comma in a flag)
		"10.0.0.10:7002",
	}, 7000)
	require.NoError(t, err)
	got, err := s.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{
		"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.10:7002",
		"[::1]:7000", "[::1]:7001", "[fd00::10]:7000",
	}, got)
}

func TestStaticLocalhost(t *testing.T) {
	s, err := NewStatic([]string{"localhost", "localhost:7001"}, 7000)
	require.NoError(t, err)
	got, err := s.Seeds(t.Context())
	require.NoError(t, err)
	assert.Contains(t, got, "127.0.0.1:7000")
	assert.Contains(t, got, "127.0.0.1:7001")
	for _, s := range got {
		ap, err := netip.ParseAddrPort(s)
		require.NoError(t, err)
		assert.True(t, ap.Addr().IsLoopback(), s)
	}
}

// TestStaticResolvesOnEveryCall checks that hostnames are resolved to all
// their addresses on every call, not once at start.
func TestStaticResolvesOnEveryCall(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("seeds.test", "127.0.0.1", "127.0.0.2")
	srv.SetAAAA("seeds.test", "::1")
	s, err := NewStatic([]string{"seeds.test", "127.0.0.9:7009"}, 7000, WithDNSConfig(fastDNS(srv, "", 0)))
	require.NoError(t, err)

	got, err := s.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.2:7000", "127.0.0.9:7009", "[::1]:7000"}, got)

	srv.SetA("seeds.test", "127.0.0.3")
	srv.SetAAAA("seeds.test")
	got, err = s.Seeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.3:7000", "127.0.0.9:7009"}, got)
	assert.Equal(t, uint64(2), s.Stats().Changes)
}

func TestStaticUnresolvableHostnames(t *testing.T) {
	srv := dnstest.NewServer(t)
	srv.SetA("good.test", "127.0.0.1")
	cfg := fastDNS(srv, "", 0)

	t.Run("skipped while others resolve", func(t *testing.T) {
		s, err := NewStatic([]string{"good.test", "missing.test", "10.0.0.1"}, 7000, WithDNSConfig(cfg))
		require.NoError(t, err)
		got, err := s.Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"10.0.0.1:7000", "127.0.0.1:7000"}, got)
	})
	t.Run("error when nothing resolves", func(t *testing.T) {
		s, err := NewStatic([]string{"missing.test", "gone.test"}, 7000, WithDNSConfig(cfg))
		require.NoError(t, err)
		got, err := s.Seeds(t.Context())
		require.Error(t, err)
		assert.Nil(t, got)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), "missing.test")
		assert.Contains(t, err.Error(), "gone.test")
	})
	t.Run("last good answer per hostname", func(t *testing.T) {
		srv.SetA("flaky.test", "127.0.0.5")
		s, err := NewStatic([]string{"flaky.test"}, 7000, WithDNSConfig(cfg))
		require.NoError(t, err)
		_, err = s.Seeds(t.Context())
		require.NoError(t, err)
		srv.Remove("flaky.test")
		got, err := s.Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"127.0.0.5:7000"}, got)
	})
}
