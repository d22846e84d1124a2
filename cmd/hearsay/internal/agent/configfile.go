package agent

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// applyFile reads the JSON configuration file and sets every key that was
// not given as a flag. Values are strings, numbers or booleans, written as
// for the flag; "seeds" and "state" also take arrays, and "state" an object.
func (p *parser) applyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usageErrorf("invalid value %q for --config: %w", path, err)
	}
	var file map[string]json.RawMessage
	if err := json.Unmarshal(b, &file); err != nil {
		return usageErrorf("config file %s: not a JSON object: %w", path, err)
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
