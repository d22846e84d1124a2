package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// maxConfigSize bounds the configuration file: a wrong path (/dev/zero, a
// log file) fails at once instead of filling the memory.
const maxConfigSize = 1 << 20

// applyFile reads the JSON configuration file and sets every key that was
// not given as a flag. Values are strings, numbers or booleans, written as
// for the flag; "seeds" and "state" also take arrays, and "state" an object.
// A key given twice is an error.
func (p *parser) applyFile(path string) error {
	b, err := readConfig(path)
	if err != nil {
		return err
	}
	var file map[string]json.RawMessage
	if err := json.Unmarshal(b, &file); err != nil {
		return usageErrorf("config file %s: not a JSON object: %w", path, err)
	}
	if err := duplicateKey(json.NewDecoder(bytes.NewReader(b)), ""); err != nil {
		return usageErrorf("config file %s: %w", path, err)
	}
	onCmdline := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { onCmdline[f.Name] = true })
	p.source = "config file " + path
	for _, key := range slices.Sorted(maps.Keys(file)) {
		if key == "config" || p.fs.Lookup(key) == nil {
			p.errs = append(p.errs, fmt.Errorf("config file %s: unknown key %q", path, key))
			continue
		}
		if onCmdline[key] {
			continue
		}
		vals, err := fileValues(file[key])
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("config file %s: key %q: %w", path, key, err))
			continue
		}
		for _, v := range vals {
			_ = p.fs.Set(key, v)
		}
	}
	if err := errors.Join(p.errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// readConfig reads at most maxConfigSize bytes of the file at path.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("invalid value %q for --config: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	switch {
	case err != nil:
		return nil, usageErrorf("invalid value %q for --config: %w", path, err)
	case len(b) > maxConfigSize:
		return nil, usageErrorf("config file %s: larger than 1 MiB; is it the right file?", path)
	}
	return b, nil
}

// duplicateKey returns an error naming the first key that appears twice
// in one object of the JSON value dec reads (in is the key of the
// enclosing object, "" at the top). The value must be valid JSON of
// bounded depth (json.Unmarshal checked it).
func duplicateKey(dec *json.Decoder, in string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := t.(string)
			if seen[key] {
				if in == "" {
					return fmt.Errorf("duplicate key %q", key)
				}
				return fmt.Errorf("duplicate key %q in %q", key, in)
			}
			seen[key] = true
			if err := duplicateKey(dec, key); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := duplicateKey(dec, in); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// fileValues turns one JSON value into the flag values it stands for.
func fileValues(raw json.RawMessage) ([]string, error) {
	var x any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case string:
		return []string{x}, nil
	case json.Number:
		return []string{x.String()}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case []any:
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("array elements must be strings, not %v", e)
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(maps.Keys(x)) {
			s, ok := x[k].(string)
			if !ok {
				return nil, fmt.Errorf("object values must be strings, not %v", x[k])
			}
			out = append(out, k+"="+s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %s", raw)
}
