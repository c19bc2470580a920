package bistro

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// Modified is the server's last-modified time. It is the server's word,
	// which a miner's server may forge; the protocol's deadline is decided by
	// when the lead saw the object, never by this field.
	Modified time.Time
}

// ErrTooLarge is returned when an object is larger than the caller's cap.
var ErrTooLarge = errors.New("bistro: object too large")

// ErrBadKey is returned for a key outside the allowed alphabet (see ValidKey).
var ErrBadKey = errors.New("bistro: bad object key")

// Storage is a bucket of objects. Implementations must be safe for concurrent
// use, refuse keys that ValidKey refuses (ErrBadKey), return ErrNotFound
// (wrapped) for a missing key, make a Put visible whole or not at all, and
// honour ctx (errors wrap ctx.Err()). Data returned is the caller's. An
// implementation may refuse a key that extends an existing object's key with
// '/' ("a" and "a/b"); the protocol's keys never do. storage/storagetest is
// the contract suite every implementation passes.
type Storage interface {
	// Put stores size bytes read from r under key, replacing any object. A
	// reader that fails or yields another number of bytes, or a negative
	// size, is an error and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get returns the object's bytes. It reads at most max+1 bytes of the
	// object: a larger one gives ErrTooLarge and is never held in memory
	// whole (a negative max refuses every object).
	Get(ctx context.Context, key string, max int64) ([]byte, error)
	// Stat returns the object's size and time.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns the objects whose keys start with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// MaxKeyLen is the longest key ValidKey accepts.
const MaxKeyLen = 512

// ValidKey reports whether key is a valid object key: 1 … MaxKeyLen bytes of
// [A-Za-z0-9._-] in segments of at most 255 bytes separated by single '/',
// with no segment "." or "..", and no leading or trailing '/'. The rule keeps keys safe as file
// paths and as S3 keys alike.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d", ErrBadKey, len(key))
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return fmt.Errorf("%w: %q has an empty, '.', '..' or over-long segment", ErrBadKey, key)
		}
		for _, c := range []byte(seg) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '.' || c == '_' || c == '-'
			if !ok {
				return fmt.Errorf("%w: %q has byte %#x", ErrBadKey, key, c)
			}
		}
	}
	return nil
}

// ValidPrefix reports whether prefix may be listed: empty, or a valid key
// optionally followed by '/'.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidKey(strings.TrimSuffix(prefix, "/"))
}

// Fetch reads key with a byte cap and returns the bytes with their SHA-256.
// Readers identify what they got by this hash, never by a server's ETag.
func Fetch(ctx context.Context, s Storage, key string, max int64) ([]byte, Hash, error) {
	b, err := s.Get(ctx, key, max)
	if err != nil {
		return nil, Hash{}, err
	}
	return b, sha256.Sum256(b), nil
}

// Driver opens a Storage from a URL of its scheme.
type Driver func(ctx context.Context, u *url.URL) (Storage, error)

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a storage driver available under a URL scheme, as
// database/sql does. It panics if the scheme is empty or already registered,
// or the driver is nil: those are programming errors found at init.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if scheme == "" || d == nil {
		panic("bistro: Register with an empty scheme or a nil driver")
	}
	if _, dup := drivers[scheme]; dup {
		panic("bistro: Register called twice for scheme " + scheme)
	}
	drivers[scheme] = d
}

// Drivers returns the registered schemes, sorted.
func Drivers() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	out := make([]string, 0, len(drivers))
	for s := range drivers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open opens a Storage by URL ("mem://name", "file:///path", "s3://…") with
// the driver registered for its scheme.
func Open(ctx context.Context, rawURL string) (Storage, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bistro: storage url: %w", err)
	}
	driversMu.RLock()
	d, ok := drivers[u.Scheme]
	driversMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("bistro: unknown storage scheme %q (forgotten import?)", u.Scheme)
	}
	return d(ctx, u)
}

// Object keys of SPEC.md §7. Every key and prefix is derived from
// WindowPrefix or CheckpointPrefix, so listing and writing agree.

// WindowPrefix is the prefix of every object of window w in a bucket.
func WindowPrefix(netuid uint16, w uint64) string {
	return fmt.Sprintf("bistro/v1/%d/%d/", netuid, w)
}

// SliceKey is the key of a miner's slice of window w in its own bucket.
func SliceKey(netuid uint16, w uint64, hotkey Hotkey) string {
	return WindowPrefix(netuid, w) + hotkey.String() + ".safetensors"
}

// AggregateKey is the key of the lead's aggregate of window w.
func AggregateKey(netuid uint16, w uint64) string {
	return WindowPrefix(netuid, w) + "aggregate.safetensors"
}

// UsedKey is the key under which the lead keeps a copy of a slice it merged
// into the aggregate of window w, exactly as it received it, so validators
// whose copy differs can verify the aggregate and prove equivocation.
func UsedKey(netuid uint16, w uint64, hotkey Hotkey) string {
	return WindowPrefix(netuid, w) + "used/" + hotkey.String() + ".safetensors"
}

// EvidencePrefix is the prefix of the evidence a validator publishes for
// window w.
func EvidencePrefix(netuid uint16, w uint64) string {
	return WindowPrefix(netuid, w) + "evidence/"
}

// EvidenceKey is the key under which a validator publishes, in its own
// bucket, a slice of window w that differs from the one the lead merged: with
// the lead's copy, two different signed slices prove the miner equivocated.
func EvidenceKey(netuid uint16, w uint64, hotkey Hotkey) string {
	return EvidencePrefix(netuid, w) + hotkey.String() + ".safetensors"
}

// CheckpointPrefix is the prefix of the checkpoints in a bucket.
func CheckpointPrefix(netuid uint16) string {
	return fmt.Sprintf("bistro/v1/%d/checkpoints/", netuid)
}

// CheckpointKey is the key of the lead's checkpoint at window w.
func CheckpointKey(netuid uint16, w uint64) string {
	return fmt.Sprintf("%s%d.safetensors", CheckpointPrefix(netuid), w)
}
