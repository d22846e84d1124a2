package ratelog

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
)

func TestAllow(t *testing.T) {
	l := New(time.Second, 3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		ok, n := l.Allow(t0)
		assert.True(t, ok, "line %d", i)
		assert.Zero(t, n)
	}
	for range 10 {
		ok, _ := l.Allow(t0.Add(500 * time.Millisecond))
		assert.False(t, ok)
	}
	ok, n := l.Allow(t0.Add(time.Second))
	assert.True(t, ok, "a new window")
	assert.EqualValues(t, 10, n, "the first line of a window reports what was suppressed")
	ok, n = l.Allow(t0.Add(time.Second))
	assert.True(t, ok)
	assert.Zero(t, n)
}

func TestZeroLimiter(t *testing.T) {
	var l Limiter
	allowed := 0
	now := time.Now()
	for range 100 {
		if ok, _ := l.Allow(now); ok {
			allowed++
		}
	}
	assert.Equal(t, DefaultBurst, allowed)
}

func TestEvent(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	l := New(time.Hour, 2)
	for range 1000 {
		l.Event(&log, zerolog.WarnLevel).Str("k", "v").Msg("bad frame")
	}
	assert.Equal(t, 2, strings.Count(buf.String(), "bad frame"))

	quiet := zerolog.New(&buf).Level(zerolog.ErrorLevel)
	l = New(time.Hour, 1)
	l.Event(&quiet, zerolog.WarnLevel).Msg("hidden")
	ok, _ := l.Allow(time.Now())
	assert.True(t, ok, "a disabled level does not spend the budget")
}
