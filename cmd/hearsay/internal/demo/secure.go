package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/messaging"
)

// newKeyring writes a keyring of one fresh key (what `hearsay keygen`
// prints) into a new temporary directory, for --secure. The caller
// removes dir.
func newKeyring() (dir, path string, err error) {
	dir, err = os.MkdirTemp("", "hearsay-demo-")
	if err != nil {
		return "", "", fmt.Errorf("keyring: %w", err)
	}
	key := make([]byte, messaging.KeySize)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	path = filepath.Join(dir, "keyring")
	text := "# hearsay demo keyring: one base64 key a line, the first is the primary\n" +
		base64.StdEncoding.EncodeToString(key) + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("keyring: %w", err)
	}
	return dir, path, nil
}

// intrude, in a keyring cluster, starts a node without the key, seeded by
// node-1, and shows that it is refused and never listed.
func (d *demo) intrude(ctx context.Context) error {
	seed := d.c.all()[0]
	refusals := func() uint64 {
		var n uint64
		for _, m := range d.c.running() {
			n += m.g.Stats().Transport.RefusedSecurityMode
		}
		return n
	}
	before := refusals()
	cfg := d.c.config("intruder", "127.0.0.1:0", seed.addr)
	cfg.ShadowTimeout = 0
	g, err := gossiper.New(cfg) // plaintext: no keyring
	if err != nil {
		return fmt.Errorf("intruder: %w", err)
	}
	if err := g.Start(ctx); err != nil {
		return fmt.Errorf("intruder: %w", err)
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Stop(stop)
	}()
	if err := d.wait(ctx, d.deadline(), func() bool { return refusals() > before }); err != nil {
		return fmt.Errorf("intruder: never refused: %w", err)
	}
	// A few more rounds, in which it keeps trying.
	if err := d.wait(ctx, 5*d.o.Interval, nil); err != nil {
		return err
	}
	for _, n := range d.c.running() {
		if _, ok := n.g.Member("intruder"); ok {
			d.sum.IntruderListed = true
		}
	}
	d.sum.IntruderRefused = refusals() - before
	d.scr.result(fmt.Sprintf("a node without the key tried to join: refused %d times, listed by %s",
		d.sum.IntruderRefused, map[bool]string{false: "nobody", true: "SOMEONE (a bug)"}[d.sum.IntruderListed]))
	if d.sum.IntruderListed {
		return fmt.Errorf("intruder: a node without the key became a member")
	}
	return nil
}
