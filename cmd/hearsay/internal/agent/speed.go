package agent

import (
	"errors"
	"math"
	"strconv"

	"github.com/hearsay-io/hearsay/gossiper"
)

// defineSpeed declares the speed knobs besides --interval: peers per
// round and the push of changes (see docs/operations.md, "Speed").
func (p *parser) defineSpeed() {
	o := p.o
	p.add("fanout", func() string { return strconv.Itoa(o.Fanout) }, o.setFanout,
		"live `peers` each gossip round sends its digests to, 1 to 64")
	p.add("push-fanout", func() string { return showPushFanout(o.PushFanout) }, o.setPushFanout,
		"`peers` a change is pushed to at once, 1 to 64; auto scales with the cluster; 0 disables push")
	p.add("push-rate", func() string { return strconv.FormatFloat(o.PushRate, 'g', -1, 64) }, o.setPushRate,
		"most push `messages` per second this node sends; changes beyond it are batched")
}

func showPushFanout(f int) string {
	if f == gossiper.PushFanoutAuto {
		return "auto"
	}
	return strconv.Itoa(f)
}

func (o *Options) setFanout(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 64 {
		return errors.New("want a whole number of peers from 1 to 64")
	}
	o.Fanout = n
	return nil
}

func (o *Options) setPushFanout(s string) error {
	if s == "auto" {
		o.PushFanout = gossiper.PushFanoutAuto
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 64 {
		return errors.New("want auto, 0 (no push) or a whole number of peers up to 64")
	}
	o.PushFanout = n
	return nil
}

func (o *Options) setPushRate(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 100_000 {
		return errors.New("want messages per second, more than 0 and at most 100000")
	}
	o.PushRate = f
	return nil
}

// applySpeed sets the speed knobs of cfg from the options. The token
// bucket's depth follows the rate (half a second's worth, at least 64, and
// at least the fanout), so that one push can always go out whole.
func (o Options) applySpeed(cfg *gossiper.Config) {
	cfg.Fanout = o.Fanout
	cfg.PushFanout = o.PushFanout
	cfg.PushRate = o.PushRate
	cfg.PushBurst = max(gossiper.DefaultPushBurst, o.PushFanout, min(int(o.PushRate/2), 100_000))
}
