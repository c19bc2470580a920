// Package mem is an in-memory bistro.Storage: the twin of a real bucket for
// tests and for a whole network in one process, with fault knobs (failing or
// delaying calls, lying about content) and a forged clock.
//
// Importing it registers the "mem" scheme: every "mem://name" URL with the
// same name opens the same Store within the process, so two participants
// that open "mem://net1" share one bucket.
//
//	import _ "github.com/bistro-go/bistro/storage/mem"
//
//	st, err := bistro.Open(ctx, "mem://net1")
//	if err != nil { … }
//	err = st.Put(ctx, "a/b", bytes.NewReader(data), int64(len(data)))
//	got, err := st.Get(ctx, "a/b", 1<<20)
//
// Tests reach the shared store with Named("net1") to set its faults, or make a
// private one with New.
package mem

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/internal/objio"
)

// Scheme is the URL scheme this package registers.
const Scheme = "mem"

func init() {
	bistro.Register(Scheme, open)
}

var (
	namedMu sync.Mutex
	named   = map[string]*Store{}
)

// Named returns the process-wide Store that "mem://name" opens, creating it
// empty on first use.
func Named(name string) *Store {
	namedMu.Lock()
	defer namedMu.Unlock()
	s, ok := named[name]
	if !ok {
		s = New()
		named[name] = s
	}
	return s
}

// open is the driver for "mem://name" URLs: the name is the URL's host, and
// a path, query or user part is refused so a typo cannot silently open a
// different bucket.
func open(_ context.Context, u *url.URL) (bistro.Storage, error) {
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("mem: url %q: want mem://name", u.Redacted())
	}
	return Named(u.Host), nil
}

// Faults are hooks that make a Store misbehave in tests. A nil hook does
// nothing. A hook runs on the caller's goroutine before the operation takes
// effect, so it may block (honouring ctx) to simulate a slow endpoint; a
// non-nil error it returns is returned wrapped, and the operation is not done.
type Faults struct {
	// Put runs before an object is read from the caller's reader and stored:
	// an error simulates a full disk or a dead endpoint, and nothing is stored.
	Put func(ctx context.Context, key string) error
	// Get runs on a Get of an existing object with a copy of its bytes, and
	// returns what the caller receives (before the caller's cap is applied):
	// a lying server may serve other bytes, or fail.
	Get func(ctx context.Context, key string, data []byte) ([]byte, error)
	// Stat runs before a Stat.
	Stat func(ctx context.Context, key string) error
	// List runs before a List, with its prefix.
	List func(ctx context.Context, prefix string) error
	// Delete runs before a Delete.
	Delete func(ctx context.Context, key string) error
}

// Store is an in-memory bucket. It is safe for concurrent use. It copies
// data on Put and on Get, so callers keep ownership of their buffers.
type Store struct {
	mu     sync.RWMutex
	objs   map[string]object
	clock  bistro.Clock
	faults Faults
}

type object struct {
	data     []byte
	modified time.Time
}

var _ bistro.Storage = (*Store)(nil)

// New returns an empty Store whose Modified times come from the system clock.
func New() *Store {
	return &Store{objs: map[string]object{}, clock: bistro.SystemClock{}}
}

// SetClock sets the clock that stamps the Modified time of later Puts; a
// test forges server times with it. A nil clock restores the system clock.
func (s *Store) SetClock(c bistro.Clock) {
	if c == nil {
		c = bistro.SystemClock{}
	}
	s.mu.Lock()
	s.clock = c
	s.mu.Unlock()
}

// SetFaults replaces the Store's fault hooks; the zero Faults clears them.
// It may be called while other goroutines use the Store.
func (s *Store) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

func (s *Store) hooks() Faults {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.faults
}

// prealloc bounds the up-front allocation of a Put, so that a declared size
// larger than what the reader yields cannot exhaust memory.
const prealloc = 64 << 20

// Put stores size bytes read from r under key, replacing any object. It
// stores nothing if r yields fewer or more than size bytes, r fails, ctx
// ends, or the Put fault hook fails.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("mem: put: %w", err)
	}
	if h := s.hooks().Put; h != nil {
		if err := h(ctx, key); err != nil {
			return fmt.Errorf("mem: put %q: %w", key, err)
		}
	}
	data, err := objio.ReadExact(ctx, r, size, prealloc)
	if err != nil {
		return fmt.Errorf("mem: put %q: %w", key, err)
	}
	// Re-check after the read: a Put whose ctx ended stores nothing.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: put %q: %w", key, err)
	}
	s.mu.Lock()
	s.objs[key] = object{data: data, modified: s.clock.Now()}
	s.mu.Unlock()
	return nil
}

// Get returns a copy of the object's bytes, or an error wrapping
// bistro.ErrTooLarge if it has more than max bytes.
func (s *Store) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, fmt.Errorf("mem: get: %w", err)
	}
	s.mu.RLock()
	o, ok := s.objs[key]
	h := s.faults.Get
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("mem: get %q: %w", key, bistro.ErrNotFound)
	}
	data := o.data
	if h != nil {
		var err error
		if data, err = h(ctx, key, clone(data)); err != nil {
			return nil, fmt.Errorf("mem: get %q: %w", key, err)
		}
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("mem: get %q: %w: %d bytes, cap %d", key, bistro.ErrTooLarge, len(data), max)
	}
	return clone(data), nil
}

// Stat returns the object's size and the time its Put stamped.
func (s *Store) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	if err := check(ctx, key); err != nil {
		return bistro.ObjectInfo{}, fmt.Errorf("mem: stat: %w", err)
	}
	if h := s.hooks().Stat; h != nil {
		if err := h(ctx, key); err != nil {
			return bistro.ObjectInfo{}, fmt.Errorf("mem: stat %q: %w", key, err)
		}
	}
	s.mu.RLock()
	o, ok := s.objs[key]
	s.mu.RUnlock()
	if !ok {
		return bistro.ObjectInfo{}, fmt.Errorf("mem: stat %q: %w", key, bistro.ErrNotFound)
	}
	return bistro.ObjectInfo{Key: key, Size: int64(len(o.data)), Modified: o.modified}, nil
}

// List returns the objects whose keys start with prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mem: list: %w", err)
	}
	if err := bistro.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("mem: list: %w", err)
	}
	if h := s.hooks().List; h != nil {
		if err := h(ctx, prefix); err != nil {
			return nil, fmt.Errorf("mem: list %q: %w", prefix, err)
		}
	}
	s.mu.RLock()
	out := make([]bistro.ObjectInfo, 0)
	for k, o := range s.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, bistro.ObjectInfo{Key: k, Size: int64(len(o.data)), Modified: o.modified})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b bistro.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the object; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("mem: delete: %w", err)
	}
	if h := s.hooks().Delete; h != nil {
		if err := h(ctx, key); err != nil {
			return fmt.Errorf("mem: delete %q: %w", key, err)
		}
	}
	s.mu.Lock()
	delete(s.objs, key)
	s.mu.Unlock()
	return nil
}

// check returns ctx's error, then the key's.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return bistro.ValidKey(key)
}

// clone copies b, keeping an empty object non-nil.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
