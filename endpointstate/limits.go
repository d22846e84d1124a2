package endpointstate

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors for values that break [Limits] or the data model. Callers branch
// on them with errors.Is.
var (
	// ErrInvalidKey is returned for an empty key, a key that is not valid
	// UTF-8, or an application key in the reserved "hearsay." namespace.
	ErrInvalidKey = errors.New("invalid key")
	// ErrKeyTooLong is returned for a key longer than Limits.MaxKeyLength.
	ErrKeyTooLong = errors.New("key too long")
	// ErrValueTooLarge is returned for a value larger than
	// Limits.MaxValueSize.
	ErrValueTooLarge = errors.New("value too large")
	// ErrTooManyKeys is returned when an endpoint would hold more live keys
	// than Limits.MaxKeys (or, counting tombstones, more than twice that).
	ErrTooManyKeys = errors.New("too many keys")
	// ErrStateTooLarge is returned when an endpoint's live keys and values
	// would exceed Limits.MaxBytes.
	ErrStateTooLarge = errors.New("endpoint state too large")
	// ErrInvalidEndpoint is returned for an empty, over-long or non-UTF-8
	// endpoint ID.
	ErrInvalidEndpoint = errors.New("invalid endpoint id")
	// ErrInvalidVersion is returned for a negative version or a
	// non-positive generation.
	ErrInvalidVersion = errors.New("invalid version")
	// ErrGenerationTooFar is returned by [Map.Apply] for a generation more
	// than MaxGenerationDrift ahead of the receiver's clock.
	ErrGenerationTooFar = errors.New("generation too far in the future")
	// ErrTooManyEndpoints is returned by [Map.Apply] for a new endpoint
	// when the map already holds ApplyOptions.MaxEndpoints.
	ErrTooManyEndpoints = errors.New("too many endpoints")
)

// Limits bounds what one endpoint may publish. Every node must use the same
// limits (or larger ones than every other node) or it rejects its peers'
// states.
type Limits struct {
	// MaxKeyLength is the longest key in bytes. Default 256; range 1..65535.
	// It also bounds the length of an endpoint ID.
	MaxKeyLength int
	// MaxValueSize is the largest value in bytes. Default 64 KiB;
	// range 0..16 MiB.
	MaxValueSize int
	// MaxKeys is the most live application keys per endpoint (hearsay's
	// own reserved keys come on top); tombstones may add as many again
	// before the oldest are collected. Default 256; range 1..65535.
	MaxKeys int
	// MaxBytes is the most bytes of live keys plus values per endpoint.
	// Default 256 KiB; range MaxValueSize..64 MiB.
	MaxBytes int
}

// DefaultLimits returns the documented defaults: keys up to 256 bytes,
// values up to 64 KiB, 256 keys and 256 KiB per endpoint.
func DefaultLimits() Limits {
	return Limits{MaxKeyLength: 256, MaxValueSize: 64 << 10, MaxKeys: 256, MaxBytes: 256 << 10}
}

// Validate reports every limit out of its documented range.
func (l Limits) Validate() error {
	var errs []error
	check := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("limits: %s = %d, want %d..%d", name, v, lo, hi))
		}
	}
	check("MaxKeyLength", l.MaxKeyLength, 1, 65535)
	check("MaxValueSize", l.MaxValueSize, 0, 16<<20)
	check("MaxKeys", l.MaxKeys, 1, 65535)
	check("MaxBytes", l.MaxBytes, max(l.MaxValueSize, 1), 64<<20)
	return errors.Join(errs...)
}

// CheckKey checks a key carried in gossip: non-empty, valid UTF-8, no longer
// than MaxKeyLength.
func (l Limits) CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > l.MaxKeyLength:
		return fmt.Errorf("%w: key of %d bytes, limit %d", ErrKeyTooLong, len(key), l.MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key %q is not valid UTF-8", ErrInvalidKey, key)
	}
	return nil
}

// CheckUserKey checks a key an application wants to set: CheckKey, and not
// in the reserved namespace.
func (l Limits) CheckUserKey(key string) error {
	if err := l.CheckKey(key); err != nil {
		return err
	}
	if strings.HasPrefix(key, ReservedPrefix) {
		return fmt.Errorf("%w: key %q is in the reserved %q namespace", ErrInvalidKey, key, ReservedPrefix)
	}
	return nil
}

// CheckValue checks a value's size.
func (l Limits) CheckValue(value string) error {
	if len(value) > l.MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes, limit %d", ErrValueTooLarge, len(value), l.MaxValueSize)
	}
	return nil
}

// CheckEndpoint checks an endpoint ID: non-empty, valid UTF-8, no longer
// than MaxKeyLength.
func (l Limits) CheckEndpoint(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidEndpoint)
	case len(id) > l.MaxKeyLength:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidEndpoint, len(id), l.MaxKeyLength)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidEndpoint, id)
	}
	return nil
}

// CheckSet checks that setting key to value on s keeps s within the
// limits. It does not change s.
func (l Limits) CheckSet(s *EndpointState, key, value string) error {
	if err := l.CheckKey(key); err != nil {
		return err
	}
	if err := l.CheckValue(value); err != nil {
		return err
	}
	keys, bytes := s.LiveKeys()
	if old, ok := s.Get(key); ok {
		keys--
		bytes -= len(key) + len(old)
	}
	if keys+1 > l.MaxKeys {
		return fmt.Errorf("%w: %d live keys, limit %d", ErrTooManyKeys, keys+1, l.MaxKeys)
	}
	if bytes+len(key)+len(value) > l.MaxBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrStateTooLarge, bytes+len(key)+len(value), l.MaxBytes)
	}
	return nil
}

// CheckDelta checks a delta received from the network: endpoint ID,
// versions, every key and value, and the entry count. A delta that fails is
// rejected whole.
func (l Limits) CheckDelta(d *Delta) error {
	if err := l.CheckEndpoint(d.Endpoint); err != nil {
		return err
	}
	if d.Generation <= 0 || d.HeartBeat < 0 || d.GCVersion < 0 || d.FromVersion < 0 || d.Reset && d.FromVersion != 0 {
		return fmt.Errorf("%w: endpoint %q generation %d heartbeat %d gc %d from %d reset %v",
			ErrInvalidVersion, d.Endpoint, d.Generation, d.HeartBeat, d.GCVersion, d.FromVersion, d.Reset)
	}
	if len(d.States) > l.MaxEntries() {
		return fmt.Errorf("%w: endpoint %q delta has %d entries, limit %d", ErrTooManyKeys, d.Endpoint, len(d.States), l.MaxEntries())
	}
	live := 0
	for i := range d.States {
		kv := &d.States[i]
		if err := l.CheckKey(kv.Key); err != nil {
			return fmt.Errorf("endpoint %q: %w", d.Endpoint, err)
		}
		if err := l.CheckValue(kv.Value); err != nil {
			return fmt.Errorf("endpoint %q key %q: %w", d.Endpoint, kv.Key, err)
		}
		if kv.Version <= 0 {
			return fmt.Errorf("%w: endpoint %q key %q version %d", ErrInvalidVersion, d.Endpoint, kv.Key, kv.Version)
		}
		if !kv.Deleted && !strings.HasPrefix(kv.Key, ReservedPrefix) {
			live++
		}
	}
	if live > l.MaxKeys {
		return fmt.Errorf("%w: endpoint %q delta has %d live keys, limit %d", ErrTooManyKeys, d.Endpoint, live, l.MaxKeys)
	}
	return nil
}

// CheckState checks a whole endpoint state, as it would be stored: at most
// MaxKeys live application keys of at most MaxBytes, at most MaxKeys
// tombstones, and at most ReservedKeys live reserved keys, each short
// enough for [Limits.StateSizeBound]. A state that passes always fits one
// reset delta of StateSizeBound bytes. [Map.Apply] checks the result of
// every delta with it, so limits hold across any number of deltas.
func (l Limits) CheckState(s *EndpointState) error {
	var keys, bytes, tombstones, reserved int
	for k, v := range s.States.All() {
		switch {
		case v.Deleted:
			tombstones++
		case strings.HasPrefix(k, ReservedPrefix):
			reserved++
			if len(k) > len(ReservedPrefix)+16 || len(v.Value) > maxReservedValue {
				return fmt.Errorf("%w: reserved key %q of %d bytes with a value of %d bytes, limits %d and %d",
					ErrStateTooLarge, k, len(k), len(v.Value), len(ReservedPrefix)+16, maxReservedValue)
			}
		default:
			keys++
			bytes += len(k) + len(v.Value)
		}
	}
	switch {
	case keys > l.MaxKeys:
		return fmt.Errorf("%w: %d live keys, limit %d", ErrTooManyKeys, keys, l.MaxKeys)
	case bytes > l.MaxBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrStateTooLarge, bytes, l.MaxBytes)
	case tombstones > l.MaxKeys:
		return fmt.Errorf("%w: %d tombstones, limit %d", ErrTooManyKeys, tombstones, l.MaxKeys)
	case reserved > ReservedKeys:
		return fmt.Errorf("%w: %d reserved keys, limit %d", ErrTooManyKeys, reserved, ReservedKeys)
	}
	return nil
}

// MaxEntries is the most entries an endpoint state holds: MaxKeys live
// application keys, as many tombstones, and the reserved keys.
func (l Limits) MaxEntries() int { return 2*l.MaxKeys + ReservedKeys }

// CheckDigest checks a digest received from the network.
func (l Limits) CheckDigest(d Digest) error {
	if err := l.CheckEndpoint(d.Endpoint); err != nil {
		return err
	}
	if d.Generation < 0 || d.MaxVersion < 0 {
		return fmt.Errorf("%w: digest %q generation %d max version %d", ErrInvalidVersion, d.Endpoint, d.Generation, d.MaxVersion)
	}
	return nil
}
