package simcli

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"
)

// profile is a network and host profile that tune-phi sweeps the failure
// detector under.
type profile struct {
	Name     string
	Interval time.Duration
	Latency  time.Duration // mean one-way
	Jitter   time.Duration // stddev of the latency: what makes heartbeat arrivals irregular
	Loss     float64       // per message
	Pause    time.Duration // length of each host pause (GC, VM steal); 0 = none
	PauseGap int           // rounds between pauses; one random node pauses each time
}

// profiles returns the presets of --profile. Their numbers are in the
// help text and in docs/tuning.md; keep the three in step.
func profiles() []profile {
	return []profile{
		{Name: "lan", Interval: time.Second, Latency: 200 * time.Microsecond, Jitter: 100 * time.Microsecond,
			Loss: 0.001, Pause: 500 * time.Millisecond, PauseGap: 60},
		{Name: "cloud", Interval: time.Second, Latency: time.Millisecond, Jitter: 2 * time.Millisecond,
			Loss: 0.01, Pause: 2 * time.Second, PauseGap: 30},
		{Name: "cross-region", Interval: time.Second, Latency: 70 * time.Millisecond, Jitter: 30 * time.Millisecond,
			Loss: 0.05, Pause: 3 * time.Second, PauseGap: 30},
	}
}

// String is the profile's one-line description, as in the help.
func (p profile) String() string {
	pause := "no pauses"
	if p.Pause > 0 && p.PauseGap > 0 {
		pause = fmt.Sprintf("a %s pause of one node every %d rounds", p.Pause, p.PauseGap)
	}
	return fmt.Sprintf("%s: interval %s, latency %s ± %s, loss %s, %s", p.Name, p.Interval, p.Latency, p.Jitter, percent(p.Loss), pause)
}

// with returns p with the fields of o whose flags were set on fs, named
// "… (custom)" if any was.
func (p profile) with(fs *flag.FlagSet, o profile) profile {
	custom := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "interval":
			p.Interval = o.Interval
		case "latency":
			p.Latency = o.Latency
		case "jitter":
			p.Jitter = o.Jitter
		case "loss":
			p.Loss = o.Loss
		case "pause":
			p.Pause = o.Pause
		case "pause-every":
			p.PauseGap = o.PauseGap
		default:
			return
		}
		custom = true
	})
	if custom {
		p.Name += " (custom)"
	}
	return p
}

// profileNamed returns the preset called name.
func profileNamed(name string) (profile, error) {
	var names []string
	for _, p := range profiles() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return profile{}, fmt.Errorf("invalid value %q for --profile: want %s", name, strings.Join(names, ", "))
}

// MarshalJSON encodes p with its durations as Go duration strings ("1s"),
// as in scenario files.
func (p profile) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name     string  `json:"name"`
		Interval string  `json:"interval"`
		Latency  string  `json:"latency"`
		Jitter   string  `json:"jitter"`
		Loss     float64 `json:"loss"`
		Pause    string  `json:"pause"`
		PauseGap int     `json:"pause_every"`
	}{p.Name, p.Interval.String(), p.Latency.String(), p.Jitter.String(), p.Loss, p.Pause.String(), p.PauseGap})
}
