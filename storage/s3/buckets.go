package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/bistro-go/bistro"
)

// Buckets opens other participants' buckets from their on-chain commitments
// (bistro.Buckets). Each committed endpoint must pass bistro.CheckEndpoint,
// and every connection is dialled through netguard.DialControl, which
// refuses each address bistro.PublicAddr rejects, so a commitment can make a
// validator reach only public addresses, whatever its name resolves to;
// proxies from the environment and redirects are not followed. A bucket is read with its committed read-only key, or with
// unsigned requests when there is none, and always path-style
// (<endpoint>/<bucket>/<key>), which every S3-compatible service serves. The
// stores it returns refuse Put and Delete: another participant's bucket is
// only read.
//
// The zero value is ready to use; set the fields before the first Open and do
// not change them after. A Buckets is safe for concurrent use: all the
// buckets it opens share one connection pool, and a store is reused for as
// long as its owner's commitment stays the same.
type Buckets struct {
	// Options are the template of every store opened: timeouts, retries,
	// connection pool and Logger. Bucket, Endpoint, Region, PathStyle and
	// credentials come from the commitment; DotEnv is ignored.
	Options Options
	// AllowPrivate is the local-network option: it allows http and loopback
	// or private hosts (bistro.CheckEndpoint's allowPrivate) and dials
	// without the public-address check. Never set it on a real network.
	AllowPrivate bool

	once   sync.Once
	http   *httpClient
	opts   Options
	mu     sync.Mutex
	stores map[bistro.Commitment]*Store
}

var _ bistro.Buckets = (*Buckets)(nil)

// maxCached bounds the stores kept: one per participant in practice.
const maxCached = 8192

func (b *Buckets) init() {
	b.once.Do(func() {
		b.opts = b.Options.withDefaults()
		b.http = newHTTPClient(b.opts, !b.AllowPrivate)
		b.stores = map[bistro.Commitment]*Store{}
	})
}

// Open returns a read-only store of the bucket owner committed to. It sends
// no request.
func (b *Buckets) Open(ctx context.Context, owner bistro.Hotkey, c bistro.Commitment) (bistro.Storage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.init()
	u, err := bistro.CheckEndpoint(c.Endpoint, b.AllowPrivate)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket of %s: %w", owner, err)
	}
	if c.Bucket == "" || c.Region == "" {
		return nil, fmt.Errorf("s3: bucket of %s: %w: no bucket or region", owner, bistro.ErrBadCommitment)
	}
	if (c.ReadKeyID == "") != (c.ReadSecret == "") {
		return nil, fmt.Errorf("s3: bucket of %s: %w: read key id and secret: both or neither", owner, bistro.ErrBadCommitment)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.stores[c]; ok {
		return readOnly{st}, nil
	}
	o := b.opts
	o.Bucket, o.Region, o.PathStyle = c.Bucket, c.Region, true
	o.Endpoint = u.Scheme + "://" + u.Host
	o.AccessKeyID, o.SecretAccessKey, o.SessionToken = c.ReadKeyID, c.ReadSecret, ""
	o.Anonymous = c.ReadKeyID == ""
	o.DotEnv = ""
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("s3: bucket of %s: %w", owner, err)
	}
	st, err := newStore(ctx, o, b.http)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket of %s: %w", owner, err)
	}
	if len(b.stores) >= maxCached {
		clear(b.stores)
	}
	b.stores[c] = st
	return readOnly{st}, nil
}

// CloseIdleConnections closes the idle connections of every bucket opened.
func (b *Buckets) CloseIdleConnections() {
	b.init()
	b.http.closeIdle()
}

// ErrReadOnly is returned by Put and Delete on another participant's bucket.
var ErrReadOnly = errors.New("s3: another participant's bucket is read-only")

// readOnly is a Store that refuses writes.
type readOnly struct{ *Store }

func (r readOnly) Put(context.Context, string, io.Reader, int64) error {
	return fmt.Errorf("%w (%s)", ErrReadOnly, r.bucket)
}

func (r readOnly) Delete(context.Context, string) error {
	return fmt.Errorf("%w (%s)", ErrReadOnly, r.bucket)
}
