package core

import (
	"errors"
	"strings"
)

// checkHostPort reports whether s is a "host:port" address as
// net.SplitHostPort parses it, with the same error text, without importing
// package net (the core touches no network; see docs/lint_test.go).
// hostport_test.go checks it against net.SplitHostPort.
func checkHostPort(s string) error {
	bad := func(why string) error {
		if s == "" {
			return errors.New(why)
		}
		return errors.New("address " + s + ": " + why)
	}
	const (
		missingPort   = "missing port in address"
		tooManyColons = "too many colons in address"
	)
	j, k := 0, 0
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return bad(missingPort)
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("missing ']' in address")
		}
		switch end + 1 {
		case len(s):
			return bad(missingPort)
		case i:
		default:
			if s[end+1] == ':' {
				return bad(tooManyColons)
			}
			return bad(missingPort)
		}
		j, k = 1, end+1
	} else if strings.IndexByte(s[:i], ':') >= 0 {
		return bad(tooManyColons)
	}
	if strings.IndexByte(s[j:], '[') >= 0 {
		return bad("unexpected '[' in address")
	}
	if strings.IndexByte(s[k:], ']') >= 0 {
		return bad("unexpected ']' in address")
	}
	return nil
}
