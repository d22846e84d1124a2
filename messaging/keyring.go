package messaging

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KeySize is the size in bytes of a keyring key: AES-256.
const KeySize = 32

// maxKeys bounds the keys of a keyring: a receiver may try each of them on
// a frame, so a keyring of thousands would make every frame expensive.
const maxKeys = 16

// ErrKeyring is wrapped by every error about a keyring file's contents.
var ErrKeyring = errors.New("bad keyring")

// ParseKeyring reads a keyring: one key a line, each the standard base64
// encoding of [KeySize] bytes (what `hearsay keygen` prints); blank lines
// and lines starting with # are ignored. The first key is the primary, used
// to send; every key is accepted on receive. It returns an error wrapping
// [ErrKeyring] that names the line, for no key, more than 16 keys, a line
// that is not base64, a key of the wrong size or a key listed twice.
func ParseKeyring(b []byte) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: not standard base64: %v", ErrKeyring, line, err)
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("%w: line %d: key of %d bytes, want %d (generate one with `hearsay keygen`)", ErrKeyring, line, len(k), KeySize)
		}
		for _, o := range keys {
			if bytes.Equal(o, k) {
				return nil, fmt.Errorf("%w: line %d: key listed twice", ErrKeyring, line)
			}
		}
		if len(keys) == maxKeys {
			return nil, fmt.Errorf("%w: more than %d keys", ErrKeyring, maxKeys)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyring, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key (one base64 key a line; generate one with `hearsay keygen`)", ErrKeyring)
	}
	return keys, nil
}

// maxKeyringFile bounds a keyring file: 16 keys take under 1 KiB, so a
// larger file is a wrong path (/dev/zero, a log), refused at once rather
// than read into memory.
const maxKeyringFile = 64 << 10

// maxTLSFile bounds each TLS file (a CA bundle, a certificate chain, a
// key): a public CA bundle is some hundreds of KiB.
const maxTLSFile = 4 << 20

// readBounded reads the file at path, failing if it holds more than max
// bytes (a wrong path, a device) instead of reading it all.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes: is it the right file?", max)
	}
	return b, nil
}

// loadKeyring reads and parses a keyring file.
func loadKeyring(path string) ([][]byte, error) {
	b, err := readBounded(path, maxKeyringFile)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	keys, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	return keys, nil
}

// keySet is one version of a keyring: never modified once published.
type keySet struct {
	keys [][]byte // keys[0] is the primary
}

// fileStamp is what tells a file changed on disk: its modification time,
// its size and a digest of its contents (of the first maxStampedBytes).
// The digest catches what time and size miss: rotation step 2 (swap two
// keys) leaves the size alike, and a copy that keeps the source's time
// (cp -p, rsync -t) or two writes within one tick of the file system's
// clock can leave the time alike too.
type fileStamp struct {
	mod  time.Time
	size int64
	sum  [sha256.Size]byte
}

// maxStampedBytes bounds what stampOf reads of a file (a CA bundle is
// some hundreds of KiB at most).
const maxStampedBytes = 4 << 20

// stampOf returns the stamp of path, zero if it cannot be read.
func stampOf(path string) fileStamp {
	f, err := os.Open(path)
	if err != nil {
		return fileStamp{}
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fileStamp{}
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxStampedBytes)); err != nil {
		return fileStamp{}
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	h.Sum(st.sum[:0])
	return st
}

// keyringReloadInterval is how often, at most, a keyring in use is checked
// for a change on disk: a rotation step is in effect everywhere within
// about this long after its file is written.
const keyringReloadInterval = time.Second

// keyringFile is a keyring read from a file and reloaded when the file
// changes: [keyringFile.current] checks the file's stamp (time, size,
// digest) at most once per keyringReloadInterval, on use, so no goroutine
// polls it. A
// changed file that does not parse leaves the previous keys in use (the
// error is reported through onError). Safe for concurrent use.
type keyringFile struct {
	path    string
	onError func(error)            // called on a failed reload
	reloads *atomic.Uint64         // counts successful reloads
	set     atomic.Pointer[keySet] // the keys in use
	checked atomic.Int64           // unix nanoseconds of the last check

	mu    sync.Mutex // guards stamp, and serialises reloads
	stamp fileStamp
}

// newKeyringFile reads the keyring at path.
func newKeyringFile(path string, onError func(error), reloads *atomic.Uint64) (*keyringFile, error) {
	st := stampOf(path)
	keys, err := loadKeyring(path)
	if err != nil {
		return nil, err
	}
	k := &keyringFile{path: path, onError: onError, reloads: reloads, stamp: st}
	k.set.Store(&keySet{keys: keys})
	k.checked.Store(time.Now().UnixNano())
	return k, nil
}

// current returns the keys in use, first reloading the file if it changed
// and was not checked for keyringReloadInterval.
func (k *keyringFile) current() *keySet {
	now := time.Now().UnixNano()
	last := k.checked.Load()
	if now-last >= int64(keyringReloadInterval) && k.checked.CompareAndSwap(last, now) {
		k.reload()
	}
	return k.set.Load()
}

// reload reads the file again if its stamp changed.
func (k *keyringFile) reload() {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := stampOf(k.path)
	if st == k.stamp {
		return
	}
	keys, err := loadKeyring(k.path)
	if err != nil {
		if k.onError != nil {
			k.onError(err)
		}
		return
	}
	k.stamp = st
	k.set.Store(&keySet{keys: keys})
	k.reloads.Add(1)
}
