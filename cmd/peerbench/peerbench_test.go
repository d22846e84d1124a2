package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	d := summarize([]time.Duration{3 * time.Second, time.Second, 2 * time.Second, 10 * time.Second}, 5)
	assert.Equal(t, dist{Count: 4, Want: 5, MinMS: 1000, P50MS: 3000, MaxMS: 10000}, d, "the missing fifth counts as slowest")
	assert.Equal(t, dist{Want: 3}, summarize(nil, 3))
	assert.Equal(t, dist{Count: 2, Want: 10, MinMS: 1000, P50MS: -1, MaxMS: 2000},
		summarize([]time.Duration{time.Second, 2 * time.Second}, 10), "the median counts the missing")
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "4,698", thousands(4698.2))
	assert.Equal(t, "253", thousands(253))
	assert.Equal(t, "1,000,000", thousands(999999.7))
	assert.Equal(t, "85 ms", ms(85.2, 1))
	assert.Equal(t, "1.2 s", ms(1234, 1))
	assert.Equal(t, "77 s", ms(77000, 1))
	assert.Equal(t, "—", ms(0, 0))
	assert.Equal(t, "4.8 s / 5.9 s", pair(dist{Count: 10, Want: 10, P50MS: 4800, MaxMS: 5900}))
	assert.Equal(t, "2.8 s / incomplete (100 of 128)", pair(dist{Count: 100, Want: 128, P50MS: 2800, MaxMS: 3000}))
	assert.Equal(t, "over timeout / incomplete (11 of 128)", pair(dist{Count: 11, Want: 128, P50MS: -1, MaxMS: 3000}))
	assert.Equal(t, "none of 63", pair(dist{Want: 63}))
	assert.Equal(t, "9.0 s / 9.4 s", firstLast(dist{Count: 2, Want: 2, MinMS: 9000, P50MS: 9000, MaxMS: 9400}))
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--quick"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{8}, cfg.sizes)
	assert.Equal(t, systemNames, cfg.systems)
	assert.False(t, cfg.opts.crash, "quick skips crash and restart")
	assert.Equal(t, 2*time.Second, cfg.opts.steady)

	cfg, err = parseFlags([]string{"--quick", "--crash", "--sizes", "4,4,16", "--systems", "serf", "--json"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.opts.crash, "an explicit flag wins over --quick")
	assert.Equal(t, []int{4, 16}, cfg.sizes)
	assert.Equal(t, []string{"serf"}, cfg.systems)
	assert.Equal(t, "json", cfg.format)

	_, err = parseFlags([]string{"--systems", "hearsay,consul", "--sizes", "1,x", "--updates", "0", "--format", "csv"}, io.Discard)
	require.Error(t, err)
	for _, want := range []string{`unknown system "consul"`, `"1" is not a size`, `"x" is not a size`, "--updates 0", `--format "csv"`} {
		assert.Contains(t, err.Error(), want)
	}

	// A child gets the parent's options back.
	cfg, err = parseFlags([]string{"--steady", "7s", "--updates", "3", "--crash=false", "--fast"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.opts.fast)
	child, err := parseFlags(childArgs(cfg, "memberlist", 32), io.Discard)
	require.NoError(t, err)
	assert.True(t, child.child)
	assert.Equal(t, "memberlist", child.childSystem)
	assert.Equal(t, 32, child.childN)
	assert.Equal(t, cfg.opts, child.opts)
}

func TestRecorder(t *testing.T) {
	r := newRecorder(3, 1)
	now := time.Now()
	o0, o1 := r.instance(0), r.instance(1)
	r.instance(2)

	o0.up(nodeName(1), now)
	o0.up(nodeName(0), now) // itself: ignored
	o0.up("stranger", now)  // not a node: ignored
	r.read(func() { assert.True(t, r.fullAt[0].IsZero()) })
	o0.up(nodeName(2), now.Add(time.Second))
	r.read(func() { assert.Equal(t, now.Add(time.Second), r.fullAt[0]) })

	o0.value(nodeName(1), "v1", now)
	o0.value(nodeName(1), "v1", now.Add(time.Hour)) // first sighting wins
	o0.value(nodeName(2), "v1", now)                // not the watched node
	r.read(func() { assert.Equal(t, map[string]time.Time{"v1": now}, r.values[0]) })

	// A live node declared dead is a false conviction; a crashed one is not.
	r.setPhase("steady")
	o0.down(nodeName(2), now, true)
	o1.down(nodeName(0), now, false) // a restart noticed, not a conviction
	assert.Equal(t, 1, r.falseConvictions("steady"))
	r.crashed(2)
	o0.up(nodeName(2), now)
	o0.down(nodeName(2), now, true)
	assert.Equal(t, 1, r.totalFalseConvictions())

	// A restarted node's old instance no longer reports.
	r.instance(0)
	o0.up(nodeName(1), now)
	r.read(func() { assert.Zero(t, r.upCount[0]) })

	r.instance(2)
	assert.Equal(t, " (n000 misses n001, n002; n001 misses n000, n002; n002 misses n000, n001)", missing(r))

	r.close()
	o1.down(nodeName(0), now, true)
	assert.Equal(t, 1, r.totalFalseConvictions())
}

func TestWriteMarkdown(t *testing.T) {
	rep := report{Command: "peerbench --sizes 8", Date: "2026-12-01 05:40 UTC", Go: "go1.26", CPUs: 2, Load: "0.50 0.40 0.30", Steady: "10s", Updates: 5, Timeout: "1m0s",
		Results: []result{{
			System: "hearsay", N: 8, Join: dist{Count: 8, Want: 8, P50MS: 2000, MaxMS: 3000},
			Update: dist{Count: 7, Want: 35, P50MS: 1500, MaxMS: 2000}, SteadyBytesPerNodeSec: 704, CPUMillisPerNodeSec: 0.12,
			HeapBytesPerNode: 512 * 1024, Crash: &dist{Count: 7, Want: 7, MinMS: 18000, MaxMS: 24000},
			FalseConvictions: map[string]int{"steady": 1, "join": 2}, Notes: []string{"a | b"},
		}},
	}
	var b bytes.Buffer
	writeMarkdown(&b, rep, []string{"hearsay", "serf"}, []int{8})
	out := b.String()
	for _, want := range []string{
		"`peerbench --sizes 8` · 2026-12-01 05:40 UTC · go1.26 · 2 CPUs (load 0.50 0.40 0.30 at start) · steady 10s, 5 updates, timeout 1m0s per phase\n",
		"| N = 8 | hearsay | serf |",
		"| join: every node sees all N up, p50 / last node | 2.0 s / 3.0 s | — |",
		"| an update reaches every node, p50 / max | 1.5 s / incomplete (7 of 35) | — |",
		"| steady bytes sent + received per node per second | 704 (88 × N) | — |",
		"| crashed node seen down, first / last survivor | 18 s / 24 s | — |",
		"| restarted node seen up by all, p50 / last | not run | — |",
		"| false convictions, steady / whole run | 1 / 3 | — |",
		"- hearsay, N = 8: a \\| b",
	} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, 1+1+8, strings.Count(out, "|\n"), "header, rule and one line per figure")
}

// TestRunCase runs every system for real: three nodes on loopback, every
// phase, with short waits. It checks that each phase completes and that
// the figures are measured (not that they are fast).
func TestRunCase(t *testing.T) {
	_, err := raiseFileLimit()
	require.NoError(t, err)
	for _, sys := range systemNames {
		t.Run(sys, func(t *testing.T) {
			t.Parallel()
			opts := options{steady: time.Second, settle: 0, updates: 2, timeout: 45 * time.Second, crash: true}
			res, err := runCase(sys, 3, opts, func(string) {})
			require.NoError(t, err)
			for _, note := range res.Notes {
				// Only a port still held by the old instance is benign.
				assert.True(t, strings.HasPrefix(note, "restart: port "), "note: %s", note)
			}
			assert.Equal(t, 3, res.Join.Want)
			assert.Equal(t, res.Join.Want, res.Join.Count, "every node joined")
			assert.Equal(t, 2*2, res.Update.Count, "two updates seen by two observers")
			assert.Equal(t, res.Update.Want, res.Update.Count)
			assert.Positive(t, res.SteadyBytesPerNodeSec)
			assert.Positive(t, res.HeapBytesPerNode)
			require.NotNil(t, res.Crash)
			assert.Equal(t, 2, res.Crash.Count, "both survivors saw the crash")
			assert.Positive(t, res.Crash.MinMS)
			require.NotNil(t, res.Restart)
			assert.Equal(t, 2, res.Restart.Count, "both survivors saw the restart")
			assert.Zero(t, res.FalseConvictions["steady"])
		})
	}
}

// TestCountingTransport checks memberlist's byte accounting: a datagram
// and a stream, counted once on each side.
func TestCountingTransport(t *testing.T) {
	a, err := newCountingTransport(0)
	require.NoError(t, err)
	defer a.Shutdown()
	b, err := newCountingTransport(0)
	require.NoError(t, err)
	defer b.Shutdown()
	bAddr := fmt.Sprintf("127.0.0.1:%d", b.port)

	_, err = a.WriteTo([]byte("hello"), bAddr)
	require.NoError(t, err)
	select {
	case p := <-b.PacketCh():
		assert.Equal(t, "hello", string(p.Buf))
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no datagram within 5 s")
	}
	assert.Equal(t, uint64(5), a.count.Load())
	assert.Equal(t, uint64(5), b.count.Load())

	c, err := a.DialTimeout(bAddr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("0123456789"))
	require.NoError(t, err)
	var in net.Conn
	select {
	case in = <-b.StreamCh():
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no stream within 5 s")
	}
	defer in.Close()
	require.NoError(t, in.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 10)
	_, err = io.ReadFull(in, buf)
	require.NoError(t, err)
	assert.Equal(t, uint64(15), a.count.Load())
	assert.Equal(t, uint64(15), b.count.Load())
}

func TestPortPicker(t *testing.T) {
	p := newPortPicker()
	require.NotNil(t, p, "this machine's ephemeral range leaves room below it")
	seen := map[int]bool{}
	for range 20 {
		port := p.pick()
		require.NotZero(t, port)
		assert.GreaterOrEqual(t, port, p.lo)
		assert.Less(t, port, p.hi, "below the ephemeral range")
		assert.False(t, seen[port], "port %d handed out twice", port)
		seen[port] = true
	}
	// A port in use is skipped.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.next))
	require.NoError(t, err)
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	assert.NotEqual(t, taken, p.pick())
	assert.True(t, addrInUse(fmt.Errorf("wrapped: %w", syscall.EADDRINUSE)))
	assert.False(t, addrInUse(errors.New("connection refused")))
	assert.False(t, addrInUse(nil))
}
