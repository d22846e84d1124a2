package seeds

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixed is a Provider that always gives the same answer.
type fixed struct {
	list []string
	err  error
}

func (f fixed) Seeds(context.Context) ([]string, error) {
	return append([]string(nil), f.list...), f.err
}

func TestMulti(t *testing.T) {
	a := fixed{list: []string{"10.0.0.2:7000", "10.0.0.1:7000"}}
	b := fixed{list: []string{"[::1]:7000", "10.0.0.1:7000"}}
	down := fixed{err: errors.New("dns is down")}
	gone := fixed{err: ErrNotFound}

	t.Run("union, sorted, deduplicated", func(t *testing.T) {
		m, err := NewMulti(a, b)
		require.NoError(t, err)
		got, err := m.Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000", "[::1]:7000"}, got)
	})
	t.Run("a failing provider is tolerated", func(t *testing.T) {
		m, err := NewMulti(down, a)
		require.NoError(t, err)
		got, err := m.Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000"}, got)
	})
	t.Run("all failing is an error with every cause", func(t *testing.T) {
		m, err := NewMulti(down, gone)
		require.NoError(t, err)
		got, err := m.Seeds(t.Context())
		require.Error(t, err)
		assert.Nil(t, got)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), "seed provider 1 (seeds.fixed): dns is down")
		assert.Contains(t, err.Error(), "seed provider 2 (seeds.fixed): name not found")
	})
	t.Run("with real providers", func(t *testing.T) {
		s, err := NewStatic([]string{"10.0.0.3"}, 7000)
		require.NoError(t, err)
		m, err := NewMulti(s, a)
		require.NoError(t, err)
		got, err := m.Seeds(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, got)
	})
	t.Run("construction", func(t *testing.T) {
		_, err := NewMulti()
		require.ErrorContains(t, err, "no providers")
		_, err = NewMulti(a, nil)
		require.ErrorContains(t, err, "provider 2 is nil")
	})
}
