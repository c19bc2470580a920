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
type buckets struct {
	mu     sync.Mutex
	stores map[string]bistro.Storage
	alts   map[string]bistro.Storage
	lead   bistro.Hotkey // the reader who sees an equivocator's primary version
	// remote, when set, opens buckets on an S3 server (Options.S3) by their
	// commitments; stores and alts still name them.
	remote *s3.Buckets
}

func newBuckets() *buckets {
	return &buckets{stores: map[string]bistro.Storage{}, alts: map[string]bistro.Storage{}}
}

func (b *buckets) add(name string, st bistro.Storage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stores[name] = st
}

func (b *buckets) addAlt(name string, st bistro.Storage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.alts[name] = st
}

// readerView is one participant's bistro.Buckets.
type readerView struct {
	b      *buckets
	reader bistro.Hotkey
}

var _ bistro.Buckets = readerView{}

// Open returns the store behind the commitment's bucket. The endpoint rule is
// applied with the local-network option.
func (v readerView) Open(ctx context.Context, owner bistro.Hotkey, c bistro.Commitment) (bistro.Storage, error) {
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
