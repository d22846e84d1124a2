package messaging_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, size := range []int{1, 100, 64 << 10, messaging.DefaultMaxFrameSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			payload := bytes.Repeat([]byte{0xa5}, size)
			var stream bytes.Buffer
			require.NoError(t, messaging.WriteFrame(&stream, payload, messaging.DefaultMaxFrameSize))
			require.NoError(t, messaging.WriteFrame(&stream, []byte("next"), messaging.DefaultMaxFrameSize))
			assert.Equal(t, messaging.FrameHeaderSize+size+messaging.FrameHeaderSize+4, stream.Len())

			got, err := messaging.ReadFrame(&stream, messaging.DefaultMaxFrameSize, nil)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got), "payload of %d bytes", size)
			got, err = messaging.ReadFrame(&stream, messaging.DefaultMaxFrameSize, nil)
			require.NoError(t, err)
			assert.Equal(t, "next", string(got))
			_, err = messaging.ReadFrame(&stream, messaging.DefaultMaxFrameSize, nil)
			assert.Equal(t, io.EOF, err, "a clean end of stream is io.EOF itself")
		})
	}
}

func TestFrameWireFormat(t *testing.T) {
	var stream bytes.Buffer
	require.NoError(t, messaging.WriteFrame(&stream, []byte("hi"), 10))
	assert.Equal(t, []byte{0, 0, 0, 2, 'h', 'i'}, stream.Bytes())
}

func TestWriteFrameRejects(t *testing.T) {
	var stream bytes.Buffer
	assert.ErrorIs(t, messaging.WriteFrame(&stream, nil, 10), messaging.ErrEmptyFrame)
	assert.ErrorIs(t, messaging.WriteFrame(&stream, make([]byte, 11), 10), messaging.ErrFrameTooLarge)
	assert.NoError(t, messaging.WriteFrame(&stream, make([]byte, 10), 10), "exactly the limit")
	assert.Equal(t, messaging.FrameHeaderSize+10, stream.Len(), "rejected frames write nothing")

	boom := errors.New("boom")
	assert.ErrorIs(t, messaging.WriteFrame(failingWriter{boom}, []byte("x"), 10), boom)
}

// failingWriter fails every write with err.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"header cut short", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"header only", []byte{0, 0, 0, 5}, io.ErrUnexpectedEOF},
		{"payload cut short", []byte{0, 0, 0, 5, 'a', 'b'}, io.ErrUnexpectedEOF},
		{"zero length", []byte{0, 0, 0, 0, 'a'}, messaging.ErrEmptyFrame},
		{"one over the limit", []byte{0, 0, 0, 11}, messaging.ErrFrameTooLarge},
		{"largest length", []byte{0xff, 0xff, 0xff, 0xff}, messaging.ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := messaging.ReadFrame(bytes.NewReader(tt.input), 10, nil)
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, got)
		})
	}

	boom := errors.New("boom")
	_, err := messaging.ReadFrame(io.MultiReader(bytes.NewReader([]byte{0, 0}), failingReader{boom}), 10, nil)
	assert.ErrorIs(t, err, boom)
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadFrameChecksLengthBeforeAllocating(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := messaging.ReadFrame(bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff}), messaging.DefaultMaxFrameSize, nil)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, messaging.ErrFrameTooLarge)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
}

func TestReadFrameReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	got, err := messaging.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 3, 'a', 'b', 'c'}), 64, buf)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got))
	assert.Same(t, &buf[:1][0], &got[0], "a large enough buffer is reused")

	got, err = messaging.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 3, 'a', 'b', 'c'}), 64, make([]byte, 2))
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got), "a small buffer is replaced")
}

// FuzzReadFrame feeds arbitrary streams to ReadFrame: it must never panic,
// never return a payload over the limit, and stop at the first error.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 'x', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 64
		r := bytes.NewReader(data)
		for range len(data) + 1 {
			payload, err := messaging.ReadFrame(r, limit, nil)
			if err != nil {
				return
			}
			if len(payload) == 0 || len(payload) > limit {
				t.Fatalf("payload of %d bytes with limit %d", len(payload), limit)
			}
		}
		t.Fatal("ReadFrame never reached the end of the stream")
	})
}

func BenchmarkFrameRoundTrip(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			payload := bytes.Repeat([]byte{1}, size)
			buf := make([]byte, size)
			var stream bytes.Buffer
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				stream.Reset()
				if err := messaging.WriteFrame(&stream, payload, messaging.DefaultMaxFrameSize); err != nil {
					b.Fatal(err)
				}
				if _, err := messaging.ReadFrame(&stream, messaging.DefaultMaxFrameSize, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
