package messaging

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// A frame is how a payload travels over a byte stream: a 4-byte big-endian
// length n, then n bytes of payload.
//
//	offset 0         4                  4+n
//	       +---------+------- ... ------+
//	       |    n    |  payload (n B)   |
//	       +---------+------- ... ------+
//
// n counts the payload only, never the header, and is between 1 and the
// reader's maximum frame size. Zero-length frames are not valid: every
// payload is an encoded envelope, which is never empty, so a zero length can
// only come from a broken or hostile peer.
const (
	// FrameHeaderSize is the size in bytes of the length prefix of a frame.
	FrameHeaderSize = 4
	// DefaultMaxFrameSize is the default largest payload, in bytes, that a
	// transport sends or accepts: 1 MiB.
	DefaultMaxFrameSize = 1 << 20
)

// ErrEmptyFrame is returned by [WriteFrame] for an empty payload, by
// [ReadFrame] for a frame whose length prefix is zero, and by Send for an
// empty payload. The stream is still in sync after it, but a peer that sends
// empty frames is broken, so transports close its connection.
var ErrEmptyFrame = errors.New("empty frame")

// WriteFrame writes payload to w as one frame: the 4-byte big-endian length
// followed by the payload. It returns an error wrapping [ErrFrameTooLarge]
// if len(payload) > maxSize, and [ErrEmptyFrame] if payload is empty; in both
// cases nothing is written. WriteFrame makes two Write calls, so w should be
// buffered when it is a network connection.
func WriteFrame(w io.Writer, payload []byte, maxSize int) error {
	if err := checkFrameSize(len(payload), maxSize); err != nil {
		return err
	}
	var hdr [FrameHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("write frame payload: %w", err)
	}
	return nil
}

// ReadFrame reads one frame from r and returns its payload. The payload is
// read into buf when cap(buf) is large enough and into a new slice
// otherwise; pass nil when the caller hands the payload on.
//
// The length prefix is checked against maxSize before anything is allocated: a
// longer frame returns an error wrapping [ErrFrameTooLarge] with the payload
// left unread, so the stream cannot be resynchronised and the caller should
// close it. A zero length returns [ErrEmptyFrame]. At a clean end of stream
// (no byte of a new frame read) ReadFrame returns [io.EOF] itself; a stream
// that ends inside a frame returns an error wrapping [io.ErrUnexpectedEOF].
// Other read errors are returned wrapped.
func ReadFrame(r io.Reader, maxSize int, buf []byte) ([]byte, error) {
	var hdr [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if maxSize < 0 || uint64(n) > uint64(maxSize) {
		return nil, fmt.Errorf("read frame: length %d exceeds limit %d: %w", n, maxSize, ErrFrameTooLarge)
	}
	if uint64(cap(buf)) >= uint64(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, payloadError(n, err)
		}
		return buf, nil
	}
	// Grow with the bytes that actually arrive, so a peer that announces a
	// large frame and sends nothing pins no more than one chunk.
	buf = make([]byte, 0, min(int(n), readChunk))
	for len(buf) < int(n) {
		next := min(int(n)-len(buf), max(len(buf), readChunk))
		buf = slices.Grow(buf, next)
		if _, err := io.ReadFull(r, buf[len(buf):len(buf)+next]); err != nil {
			return nil, payloadError(n, err)
		}
		buf = buf[:len(buf)+next]
	}
	return buf, nil
}

// readChunk is the first allocation for a frame's payload; it doubles as
// the payload arrives.
const readChunk = 64 << 10

func payloadError(n uint32, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read frame payload of %d bytes: %w", n, err)
}

// checkFrameSize returns nil if a payload of n bytes may be framed under the
// limit maxSize, and the error to report otherwise.
func checkFrameSize(n, maxSize int) error {
	if n == 0 {
		return ErrEmptyFrame
	}
	if n > maxSize || uint64(n) > math.MaxUint32 {
		return fmt.Errorf("frame of %d bytes exceeds limit %d: %w", n, maxSize, ErrFrameTooLarge)
	}
	return nil
}
