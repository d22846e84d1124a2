package cli

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxEventSize bounds one server-sent event line.
const maxEventSize = 1 << 20

// ReadEvents parses a server-sent event stream from r and calls fn with
// each event's name and data (its data lines joined by newlines).
// Comments and fields other than event and data are skipped. It returns
// fn's first error, the read error, or nil at the end of the stream.
func ReadEvents(r io.Reader, fn func(name string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	var name string
	var data [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				if err := fn(name, bytes.Join(data, []byte("\n"))); err != nil {
					return err
				}
			}
			name, data = "", nil
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(string(line), ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data = append(data, []byte(value))
		}
	}
	return sc.Err()
}
