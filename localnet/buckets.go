package localnet

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
)

// buckets maps bucket names to the local stores behind them. Every
// participant opens others' buckets through its own readerView, so a bucket
// can serve different bytes to different readers (equivocation).
//
// Objects become visible to other participants at the block after the one
// in which they were first written: in lockstep every participant steps the
// same head concurrently, and an upload made while another participant
// reads in the same block would otherwise race it. This is the local
// network's ordering rule (SPEC.md §9: an object written while block n is
// the head is present for readers from block n+1).
type buckets struct {
	mu      sync.Mutex
	stores  map[string]bistro.Storage
	alts    map[string]bistro.Storage
	owners  map[string]string       // bucket → participant name
	created map[string]bistro.Block // bucket + "\x00" + key → head when first written
	head    func() bistro.Block     // the chain's head
	lead    bistro.Hotkey           // the reader who sees an equivocator's primary version
	// remote, when set, opens buckets on an S3 server (Options.S3) by their
	// commitments; stores and alts still name them.
	remote *s3.Buckets
}

func newBuckets(head func() bistro.Block) *buckets {
	return &buckets{stores: map[string]bistro.Storage{}, alts: map[string]bistro.Storage{},
		owners: map[string]string{}, created: map[string]bistro.Block{}, head: head}
}

// fresh reports whether key in bucket was first written at the current head.
func (b *buckets) fresh(bucket, key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.created[bucket+"\x00"+key]
	return ok && n >= b.head()
}

// stamped is a participant's own bucket: it records when objects appear.
type stamped struct {
	bistro.Storage
	b    *buckets
	name string
}

// Put stamps the object before writing it, so that a reader that sees the
// bytes also sees the stamp (visible checks it after reading).
func (s stamped) Put(ctx context.Context, key string, r io.Reader, n int64) error {
	k := s.name + "\x00" + key
	s.b.mu.Lock()
	_, had := s.b.created[k]
	if !had {
		s.b.created[k] = s.b.head()
	}
	s.b.mu.Unlock()
	err := s.Storage.Put(ctx, key, r, n)
	if err != nil && !had {
		s.b.mu.Lock()
		delete(s.b.created, k)
		s.b.mu.Unlock()
	}
	return err
}

func (s stamped) Delete(ctx context.Context, key string) error {
	if err := s.Storage.Delete(ctx, key); err != nil {
		return err
	}
	s.b.mu.Lock()
	delete(s.b.created, s.name+"\x00"+key)
	s.b.mu.Unlock()
	return nil
}

// visible is another participant's bucket as a reader sees it: objects
// written at the current head are not there yet. The stamp is checked after
// the read: a writer stamps before it writes, so bytes read mean a stamp
// already in place.
type visible struct {
	bistro.Storage
	b    *buckets
	name string
}

func (v visible) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	b, err := v.Storage.Get(ctx, key, max)
	if v.b.fresh(v.name, key) {
		return nil, fmt.Errorf("%w: %s (written in this block)", bistro.ErrNotFound, key)
	}
	return b, err
}

func (v visible) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	o, err := v.Storage.Stat(ctx, key)
	if v.b.fresh(v.name, key) {
		return bistro.ObjectInfo{}, fmt.Errorf("%w: %s (written in this block)", bistro.ErrNotFound, key)
	}
	return o, err
}

func (v visible) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	objs, err := v.Storage.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := objs[:0]
	for _, o := range objs {
		if !v.b.fresh(v.name, o.Key) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (b *buckets) add(name, owner string, st bistro.Storage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stores[name] = st
	b.owners[name] = owner
}

func (b *buckets) addAlt(name string, st bistro.Storage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.alts[name] = st
}

// readerView is one participant's bistro.Buckets: visibility, then its
// faults, on top of the stores.
type readerView struct {
	b      *buckets
	reader bistro.Hotkey
	name   string
	in     *injector
}

var _ bistro.Buckets = readerView{}

// Open returns the store behind the commitment's bucket. The endpoint rule is
// applied with the local-network option.
func (v readerView) Open(ctx context.Context, owner bistro.Hotkey, c bistro.Commitment) (bistro.Storage, error) {
	st, err := v.open(ctx, owner, c)
	if err != nil {
		return nil, err
	}
	v.b.mu.Lock()
	name := v.b.owners[c.Bucket]
	v.b.mu.Unlock()
	return chaosStore{Storage: visible{st, v.b, c.Bucket}, who: v.name, bucket: name, in: v.in}, nil
}

func (v readerView) open(ctx context.Context, owner bistro.Hotkey, c bistro.Commitment) (bistro.Storage, error) {
	if v.b.remote != nil {
		st, err := v.b.remote.Open(ctx, owner, c)
		if err != nil {
			return nil, err
		}
		v.b.mu.Lock()
		alt, ok := v.b.alts[c.Bucket]
		v.b.mu.Unlock()
		if ok && v.reader != v.b.lead {
			return twoFaced{primary: st, alt: alt}, nil
		}
		return st, nil
	}
	if _, err := bistro.CheckEndpoint(c.Endpoint, true); err != nil {
		return nil, err
	}
	v.b.mu.Lock()
	defer v.b.mu.Unlock()
	st, ok := v.b.stores[c.Bucket]
	if !ok {
		return nil, fmt.Errorf("%w: bucket %q", bistro.ErrNotFound, c.Bucket)
	}
	if alt, ok := v.b.alts[c.Bucket]; ok && v.reader != v.b.lead {
		return twoFaced{primary: st, alt: alt}, nil
	}
	return readOnly{st}, nil
}

// readOnly refuses writes to another participant's bucket.
type readOnly struct{ bistro.Storage }

func (readOnly) Put(context.Context, string, io.Reader, int64) error {
	return fmt.Errorf("localnet: another participant's bucket is read-only")
}
func (readOnly) Delete(context.Context, string) error {
	return fmt.Errorf("localnet: another participant's bucket is read-only")
}

// twoFaced serves alt's version of an object when it has one.
type twoFaced struct{ primary, alt bistro.Storage }

func (t twoFaced) Put(context.Context, string, io.Reader, int64) error {
	return fmt.Errorf("localnet: another participant's bucket is read-only")
}
func (t twoFaced) Delete(context.Context, string) error {
	return fmt.Errorf("localnet: another participant's bucket is read-only")
}
func (t twoFaced) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if b, err := t.alt.Get(ctx, key, max); err == nil {
		return b, nil
	}
	return t.primary.Get(ctx, key, max)
}
func (t twoFaced) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	if o, err := t.alt.Stat(ctx, key); err == nil {
		return o, nil
	}
	return t.primary.Stat(ctx, key)
}
func (t twoFaced) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	return t.primary.List(ctx, prefix)
}
