package seeds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// maxFileSize is the largest seed file read, in bytes.
const maxFileSize = 1 << 20

// File is a [Provider] that reads seeds from a text file, the agent's
// --seed-file flag. Operators edit the file to change the seeds without
// restarting anything: every Seeds call reads it again, and parses it again
// when its contents changed. It is safe for concurrent use.
//
// The format is one entry per line, written as for [NewStatic]. A '#' starts
// a comment that runs to the end of the line; blank lines are skipped:
//
//	# gossip seeds, one per line
//	10.0.0.1:7000
//	[fd00::2]:7000
//	seed-3.example.internal   # default port
type File struct {
	path        string
	defaultPort int
	tmpl        DNSConfig
	log         zerolog.Logger

	mu      sync.Mutex // guards content and set
	content []byte     // the contents behind set; nil before the first good parse
	set     hostSet

	t tracker
}

// NewFile returns a provider for the seed file at path. defaultPort, 1-65535
// or 0 for none, is the port of entries without one. NewFile does not read
// the file: a missing or bad file shows in the first Seeds call.
func NewFile(path string, defaultPort int, opts ...Option) (*File, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("new seed file %q: %w", path, err)
	}
	if path == "" {
		return nil, errors.New("new seed file: path is empty")
	}
	if err := checkPortRange("default port", defaultPort, true); err != nil {
		return nil, fmt.Errorf("new seed file %q: %w", path, err)
	}
	log := o.dns.Logger.With().Str("seed_source", "file").Str("seed_file", path).Logger()
	return &File{path: path, defaultPort: defaultPort, tmpl: o.dns, log: log}, nil
}

// Seeds reads the file and returns its IP entries and the current addresses
// of its hostname entries, sorted and deduplicated. If the file cannot be
// read, has a bad line (the error names path and line) or has no entry,
// Seeds logs and counts the failure and returns the last good answer with a
// nil error; before any good answer it returns the error.
func (f *File) Seeds(ctx context.Context) ([]string, error) {
	return answer(ctx, &f.t, f.log, func(ctx context.Context) ([]string, error) {
		set, err := f.load()
		if err != nil {
			return nil, err
		}
		return set.resolve(ctx)
	})
}

// Stats returns the provider's counters.
func (f *File) Stats() Stats { return f.t.stats() }

// load reads the file and returns its entries, parsed again only when the
// contents changed.
func (f *File) load() (hostSet, error) {
	data, err := readLimited(f.path, maxFileSize)
	if err != nil {
		return hostSet{}, fmt.Errorf("read seed file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.content != nil && bytes.Equal(data, f.content) {
		return f.set, nil
	}
	entries, err := parseFile(f.path, data, f.defaultPort)
	if err != nil {
		return hostSet{}, err
	}
	f.set = buildHostSet(entries, f.tmpl, f.set.byKey())
	f.content = data
	f.log.Info().Int("entries", len(entries)).Msg("seed file loaded")
	return f.set, nil
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// parseFile parses a seed file. The error names every bad line.
func parseFile(path string, data []byte, defaultPort int) ([]entry, error) {
	var (
		entries []entry
		errs    []error
	)
	for i, line := range strings.Split(string(data), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		e, err := parseEntry(line, defaultPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: entry %q: %w", path, i+1, line, err))
			continue
		}
		entries = append(entries, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("parse seed file: %w", err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("parse seed file %s: %w: the file has no entries", path, ErrNoSeeds)
	}
	return entries, nil
}
