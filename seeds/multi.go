package seeds

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Multi is a [Provider] that merges several providers, for an agent given
// more than one of --seeds, --seed-dns, --seed-srv and --seed-file. It asks
// them all concurrently and returns the union of their answers, sorted and
// deduplicated. It is safe for concurrent use.
type Multi struct {
	providers []Provider
}

// NewMulti returns a provider merging providers. It needs at least one, and
// none may be nil.
func NewMulti(providers ...Provider) (*Multi, error) {
	if len(providers) == 0 {
		return nil, errors.New("new multi seeds: no providers")
	}
	for i, p := range providers {
		if p == nil {
			return nil, fmt.Errorf("new multi seeds: provider %d is nil", i+1)
		}
	}
	return &Multi{providers: append([]Provider(nil), providers...)}, nil
}

// Seeds returns the union of the providers' answers. A provider that fails
// is left out and its error dropped (the providers of this package log and
// count their own failures); Seeds fails only when every provider fails,
// with all their errors joined.
func (m *Multi) Seeds(ctx context.Context) ([]string, error) {
	lists := make([][]string, len(m.providers))
	errs := make([]error, len(m.providers))
	var wg sync.WaitGroup
	for i, p := range m.providers {
		wg.Go(func() { lists[i], errs[i] = p.Seeds(ctx) })
	}
	wg.Wait()
	var union []string
	failed := 0
	for i, err := range errs {
		if err != nil {
			errs[i] = fmt.Errorf("seed provider %d (%T): %w", i+1, m.providers[i], err)
			failed++
			continue
		}
		union = append(union, lists[i]...)
	}
	if failed == len(m.providers) {
		return nil, errors.Join(errs...)
	}
	return normalizeList(union), nil
}
