package faulttest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/agenttest"
	"github.com/hearsay-io/hearsay/gossiper"
)

// soakEnv opts in to the soak and gives its duration.
const soakEnv = "HEARSAY_SOAK"

// The soak's shape: soakAgents agents on 127.0.0.1 at the default gossip
// interval; the last soakSteady of them are never killed and are the ones
// whose memory and goroutines must stay flat over the whole run.
const (
	soakAgents    = 20
	soakSteady    = 4
	soakKillEvery = time.Minute
	soakSample    = 30 * time.Second
)

// soakWarmup is when the samples that are the flatness baseline start: a
// tenth of the run, 1 to 3 minutes.
func soakWarmup(total time.Duration) time.Duration {
	return min(3*time.Minute, max(time.Minute, total/10))
}

// TestSoak runs soakAgents agents for $HEARSAY_SOAK (a Go duration, 5m to
// 4h), every agent updating a key every second, one random agent SIGKILLed
// and restarted on its data directory every minute. At the end all states
// must have converged and, on the agents never killed, resident memory and
// goroutines must be flat: the last samples within bounds of the samples
// after the warm-up. Opt-in (it is long); skipped without HEARSAY_SOAK.
func TestSoak(t *testing.T) {
	spec := os.Getenv(soakEnv)
	if spec == "" {
		t.Skipf("opt-in: set %s to a duration (5m to 4h), e.g. %s=30m", soakEnv, soakEnv)
	}
	total, err := time.ParseDuration(spec)
	require.NoError(t, err, "%s", soakEnv)
	require.True(t, total >= 5*time.Minute && total <= 4*time.Hour, "%s=%s: want 5m to 4h", soakEnv, spec)

	addrs := agenttest.FreeAddrs(t, 2*soakAgents)
	seeds := addrs[0] + "," + addrs[2]
	as := make([]*agent, soakAgents)
	for i := range as {
		as[i] = &agent{id: fmt.Sprintf("s%02d", i+1), bind: addrs[2*i], http: addrs[2*i+1], dataDir: t.TempDir(),
			client: &http.Client{Timeout: 10 * time.Second}, args: []string{"--seeds", seeds, "--log-level", "warn"}}
	}
	startAll(t, as)
	steady := as[soakAgents-soakSteady:]

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	want := states{}
	var samples []sample
	var kills []killRecord
	var putErrors int
	down := -1 // index of the agent now killed, or -1
	var killedAt time.Time
	start := time.Now()
	nextKill, nextSample := start.Add(soakKillEvery), start
	for tick := 0; time.Since(start) < total; tick++ {
		// Every live agent updates its key, once a second.
		for i, a := range as {
			if i == down {
				continue
			}
			v := strconv.Itoa(tick)
			if err := a.set("tick", v); err != nil {
				putErrors++
				continue
			}
			if want[a.id] == nil {
				want[a.id] = map[string]string{}
			}
			want[a.id]["tick"] = v
		}
		now := time.Now()
		switch {
		case down < 0 && now.After(nextKill):
			down = rng.IntN(soakAgents - soakSteady)
			killedAt = now
			as[down].kill(t)
			nextKill = nextKill.Add(soakKillEvery)
		case down >= 0:
			// Restart once every peer has convicted it, or after 45 s.
			if allSeeDown(as, down) || now.Sub(killedAt) > 45*time.Second {
				k := killRecord{id: as[down].id, convicted: allSeeDown(as, down), after: now.Sub(killedAt)}
				as[down].start(t, t)
				kills = append(kills, k)
				down = -1
			}
		}
		if now.After(nextSample) {
			samples = append(samples, sampleAll(as, now.Sub(start))...)
			nextSample = nextSample.Add(soakSample)
			logProgress(t, samples, now.Sub(start))
		}
		time.Sleep(time.Until(start.Add(time.Duration(tick+1) * time.Second)))
	}
	if down >= 0 {
		as[down].start(t, t)
	}
	settled := waitConverged(t, as, want, 2*time.Minute, "all 20 agents up with every agent's last update everywhere")
	samples = append(samples, sampleAll(as, time.Since(start))...)

	var convicted, worst time.Duration
	var notConvicted int
	for _, k := range kills {
		if !k.convicted {
			notConvicted++
		}
		convicted += k.after
		worst = max(worst, k.after)
	}
	t.Logf("soak: %s, %d agents, %d kills (%d not convicted by every peer within 45 s; mean time to conviction by all %.1f s, worst %.1f s), %d failed updates; converged %.1f s after the last update",
		total, soakAgents, len(kills), notConvicted, convicted.Seconds()/float64(max(len(kills), 1)), worst.Seconds(), putErrors, settled.Seconds())
	assert.Zero(t, notConvicted, "every killed agent convicted by every peer within 45 s")
	for _, a := range steady {
		checkFlat(t, a.id, samples, soakWarmup(total))
	}
}

// killRecord is one SIGKILL of the soak.
type killRecord struct {
	id        string
	convicted bool          // every peer saw it down before the restart
	after     time.Duration // from the kill to the restart
}

// allSeeDown reports whether every live agent sees as[down] down.
func allSeeDown(as []*agent, down int) bool {
	for i, a := range as {
		if i == down {
			continue
		}
		v, err := a.view()
		if err != nil || v[as[down].id].Status != gossiper.StatusDown {
			return false
		}
	}
	return true
}

// sample is one agent's resident memory and goroutines at one time.
type sample struct {
	at         time.Duration // since the start
	id         string
	pid        int
	rssKiB     int64
	goroutines float64
}

func sampleAll(as []*agent, at time.Duration) []sample {
	var out []sample
	for _, a := range as {
		pid := a.pid()
		rss, err := vmRSS(pid)
		if err != nil {
			continue // killed just now
		}
		g, err := a.metric("go_goroutines")
		if err != nil {
			continue
		}
		out = append(out, sample{at: at, id: a.id, pid: pid, rssKiB: rss, goroutines: g})
	}
	return out
}

// vmRSS reads a process's resident set size, in KiB, from /proc.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// logProgress logs, every five minutes, the steady agents' figures.
func logProgress(t *testing.T, samples []sample, at time.Duration) {
	if at.Round(time.Second)%(5*time.Minute) >= soakSample {
		return
	}
	var rss []int64
	var gs []float64
	for _, s := range samples {
		if s.at == samples[len(samples)-1].at {
			rss = append(rss, s.rssKiB)
			gs = append(gs, s.goroutines)
		}
	}
	slices.Sort(rss)
	slices.Sort(gs)
	if len(rss) > 0 {
		t.Logf("soak %s: RSS min %d KiB, max %d KiB; goroutines min %.0f, max %.0f (all agents)", at.Round(time.Second), rss[0], rss[len(rss)-1], gs[0], gs[len(gs)-1])
	}
}

// checkFlat asserts that an agent never killed kept its memory and
// goroutines flat: the mean of its last three samples within 1.5 times
// (memory, plus 8 MiB for the allocator's granularity) and 1.2 times plus
// 10 (goroutines) the mean of its first three samples after the warm-up.
func checkFlat(t *testing.T, id string, samples []sample, warmup time.Duration) {
	t.Helper()
	var mine []sample
	for _, s := range samples {
		if s.id == id && s.at >= warmup {
			mine = append(mine, s)
		}
	}
	require.GreaterOrEqual(t, len(mine), 6, "%s: samples after the warm-up", id)
	require.Equal(t, mine[0].pid, mine[len(mine)-1].pid, "%s was never restarted", id)
	mean := func(ss []sample) (rss, g float64) {
		for _, s := range ss {
			rss += float64(s.rssKiB)
			g += s.goroutines
		}
		return rss / float64(len(ss)), g / float64(len(ss))
	}
	rss0, g0 := mean(mine[:3])
	rss1, g1 := mean(mine[len(mine)-3:])
	var peakRSS int64
	var peakG float64
	for _, s := range mine {
		peakRSS, peakG = max(peakRSS, s.rssKiB), max(peakG, s.goroutines)
	}
	t.Logf("soak: %s over %s: RSS %.1f → %.1f MiB (peak %.1f), goroutines %.0f → %.0f (peak %.0f)",
		id, (mine[len(mine)-1].at - mine[0].at).Round(time.Second), rss0/1024, rss1/1024, float64(peakRSS)/1024, g0, g1, peakG)
	assert.LessOrEqual(t, rss1, 1.5*rss0+8*1024, "%s: resident memory flat", id)
	assert.LessOrEqual(t, g1, 1.2*g0+10, "%s: goroutines flat", id)
}
