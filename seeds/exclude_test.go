package seeds

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExclude(t *testing.T) {
	list := []string{"10.0.0.1:7000", "10.0.0.1:7001", "[fd00::1]:7000", "seed.example:7000", "10.0.0.2:7000"}
	tests := []struct {
		name string
		self []string
		want []string
	}{
		{"nothing", nil, list},
		{"exact", []string{"10.0.0.1:7000"}, []string{"10.0.0.1:7001", "[fd00::1]:7000", "seed.example:7000", "10.0.0.2:7000"}},
		{"IPv4-mapped self", []string{"[::ffff:10.0.0.2]:7000"}, []string{"10.0.0.1:7000", "10.0.0.1:7001", "[fd00::1]:7000", "seed.example:7000"}},
		{"IPv6, unbracketed form", []string{"[FD00:0::1]:7000"}, []string{"10.0.0.1:7000", "10.0.0.1:7001", "seed.example:7000", "10.0.0.2:7000"}},
		{"no port: every port", []string{"10.0.0.1"}, []string{"[fd00::1]:7000", "seed.example:7000", "10.0.0.2:7000"}},
		{"hostname, case-insensitive", []string{"SEED.example.:7000"}, []string{"10.0.0.1:7000", "10.0.0.1:7001", "[fd00::1]:7000", "10.0.0.2:7000"}},
		{"other port", []string{"10.0.0.2:7999"}, list},
		{"wildcard bind matches nothing", []string{"0.0.0.0:7000", "[::]:7000", ""}, list},
		{"several", []string{"10.0.0.1:7000", "10.0.0.2:7000"}, []string{"10.0.0.1:7001", "[fd00::1]:7000", "seed.example:7000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Exclude(list, tt.self...))
		})
	}
	assert.Equal(t, []string{"x", ""}, Exclude([]string{"not a seed", "x", ""}, "not a seed"), "unparsable strings compare as they are")
	assert.Empty(t, Exclude(nil, "10.0.0.1:7000"))
}

func TestLocalAddrs(t *testing.T) {
	addrs, err := LocalAddrs(7000)
	require.NoError(t, err)
	assert.Contains(t, addrs, "127.0.0.1:7000")
	assert.Equal(t, []string{"10.0.0.9:7000"}, Exclude([]string{"127.0.0.1:7000", "10.0.0.9:7000"}, addrs...))
	_, err = LocalAddrs(0)
	require.Error(t, err)
}
