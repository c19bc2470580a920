package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/scale"
)

// Client is a Subtensor JSON-RPC client over one websocket, redialled when
// it breaks. It implements bistro.Chain. It is safe for concurrent use;
// calls share the connection and are answered out of order.
type Client struct {
	opts Options
	url  string
	log  *slog.Logger

	// dialMu makes one dial at a time; mu guards the rest.
	dialMu sync.Mutex
	mu     sync.Mutex
	cur    *conn
	closed bool
	// reconnects counts connections dialled after the first.
	reconnects atomic.Uint64

	genesis bistro.Hash

	// mds holds the metadata of every runtime version seen.
	mdMu sync.Mutex
	mds  map[uint32]*runtimeInfo

	// signers serializes submissions per signer, so that nonces are taken
	// in order.
	sigMu   sync.Mutex
	signers map[bistro.Hotkey]*sync.Mutex
}

var _ bistro.Chain = (*Client)(nil)

// runtimeInfo is one runtime version and its metadata.
type runtimeInfo struct {
	version RuntimeVersion
	md      *scale.Metadata
}

// New connects to opts.Network, reads the genesis hash and the runtime's
// metadata, and returns a Client. It fails with ErrUnreachable when the
// endpoint cannot be dialled.
func New(ctx context.Context, opts Options) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	u, _ := NetworkURL(opts.Network)
	c := &Client{
		opts:    opts,
		url:     u,
		log:     opts.Logger,
		mds:     map[uint32]*runtimeInfo{},
		signers: map[bistro.Hotkey]*sync.Mutex{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	g, err := c.BlockHash(ctx, 0)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("subtensor/client: genesis hash of %s: %w", u, err)
	}
	c.genesis = g
	if _, err := c.runtime(ctx, bistro.Hash{}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Dial is New with DefaultOptions for network.
func Dial(ctx context.Context, network string) (*Client, error) {
	o := DefaultOptions()
	o.Network = network
	return New(ctx, o)
}

// Reconnects returns how many times the client dialled the node again after
// losing its connection (operators export it as a metric).
func (c *Client) Reconnects() uint64 { return c.reconnects.Load() }

// URL returns the endpoint's URL.
func (c *Client) URL() string { return c.url }

// GenesisHash returns the hash of block 0.
func (c *Client) GenesisHash() bistro.Hash { return c.genesis }

// Close closes the connection; every call in flight and every stream ends
// with ErrClosed or ErrConnectionLost.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cur := c.cur
	c.cur = nil
	c.mu.Unlock()
	if cur != nil {
		cur.close(ErrClosed)
	}
	return nil
}

// conn returns the live connection, dialling a new one when there is none.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	cur := c.cur
	c.mu.Unlock()
	if cur != nil && !cur.closed() {
		return cur, nil
	}
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	cur = c.cur
	c.mu.Unlock()
	if cur != nil && !cur.closed() {
		return cur, nil
	}
	nc, err := dialConn(ctx, c.url, &c.opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.close(ErrClosed)
		return nil, ErrClosed
	}
	c.cur = nc
	c.mu.Unlock()
	if cur != nil {
		c.reconnects.Add(1)
		c.log.Debug("subtensor: reconnected", "url", c.url, "after", cur.err)
	}
	return nc, nil
}

// Call makes one JSON-RPC call and decodes its result into out (nil to
// ignore it). A call whose connection is lost is tried again on a new one
// (Options.Retries); each try is bounded by Options.CallTimeout.
func (c *Client) Call(ctx context.Context, method string, params []any, out any) error {
	raw, err := c.call(ctx, method, params, true)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("subtensor/client: %s: decode result %.200s: %w", method, raw, err)
	}
	return nil
}

// call makes one call; retry says whether a lost connection may be
// retried (never for submissions).
func (c *Client) call(ctx context.Context, method string, params []any, retry bool) (json.RawMessage, error) {
	delay := c.opts.RetryDelay
	for attempt := 0; ; attempt++ {
		raw, err := c.callOnce(ctx, method, params)
		if err == nil || !retry || attempt >= c.opts.Retries || ctx.Err() != nil ||
			!(errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrUnreachable)) {
			return raw, err
		}
		c.log.Debug("subtensor: retrying", "method", method, "attempt", attempt+1, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("subtensor/client: %s: %w (after %v)", method, ctx.Err(), err)
		case <-t.C:
		}
		delay *= 2
	}
}

func (c *Client) callOnce(ctx context.Context, method string, params []any) (json.RawMessage, error) {
	cn, err := c.conn(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	raw, err := cn.call(cctx, method, params, nil)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		err = fmt.Errorf("subtensor/client: %s: no answer within CallTimeout %v: %w", method, c.opts.CallTimeout, context.DeadlineExceeded)
	}
	return raw, err
}

// subscribe opens a subscription (one try: its caller renews it).
func (c *Client) subscribe(ctx context.Context, method, unsub string, params []any) (*Subscription, error) {
	cn, err := c.conn(ctx)
	if err != nil {
		return nil, err
	}
	s := newSubscription(unsub)
	s.c = cn
	cctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	if _, err := cn.call(cctx, method, params, s); err != nil {
		return nil, err
	}
	return s, nil
}

// SubscribeRaw opens a raw subscription: method (e.g.
// "chain_subscribeFinalizedHeads") with params, unsub the method that ends
// it. It is not renewed when the connection breaks: Next then returns
// ErrConnectionLost.
func (c *Client) SubscribeRaw(ctx context.Context, method, unsub string, params ...any) (*Subscription, error) {
	return c.subscribe(ctx, method, unsub, params)
}

// hashParam is a block hash as a JSON-RPC parameter: null for the zero
// hash (the best block).
func hashParam(h bistro.Hash) any {
	if h.IsZero() {
		return nil
	}
	return hexString(h[:])
}

// RuntimeVersion is what state_getRuntimeVersion answers.
type RuntimeVersion struct {
	SpecName           string `json:"specName"`
	ImplName           string `json:"implName"`
	SpecVersion        uint32 `json:"specVersion"`
	ImplVersion        uint32 `json:"implVersion"`
	TransactionVersion uint32 `json:"transactionVersion"`
	StateVersion       uint32 `json:"stateVersion"`
}

// RuntimeVersion returns the runtime version at block hash (zero: the best
// block).
func (c *Client) RuntimeVersion(ctx context.Context, at bistro.Hash) (RuntimeVersion, error) {
	var v RuntimeVersion
	err := c.Call(ctx, "state_getRuntimeVersion", []any{hashParam(at)}, &v)
	return v, err
}

// Metadata returns the metadata of the runtime at block hash (zero: the
// best block), read once per runtime version: after a runtime upgrade the
// new version's metadata is read and the old one kept for older blocks.
func (c *Client) Metadata(ctx context.Context, at bistro.Hash) (*scale.Metadata, error) {
	rt, err := c.runtime(ctx, at)
	if err != nil {
		return nil, err
	}
	return rt.md, nil
}

// runtime returns the runtime version at a block and its metadata.
func (c *Client) runtime(ctx context.Context, at bistro.Hash) (*runtimeInfo, error) {
	v, err := c.RuntimeVersion(ctx, at)
	if err != nil {
		return nil, err
	}
	c.mdMu.Lock()
	rt, ok := c.mds[v.SpecVersion]
	c.mdMu.Unlock()
	if ok {
		return rt, nil
	}
	md, err := c.fetchMetadata(ctx, at)
	if err != nil {
		return nil, fmt.Errorf("subtensor/client: metadata of spec %d: %w", v.SpecVersion, err)
	}
	rt = &runtimeInfo{version: v, md: md}
	c.mdMu.Lock()
	if old, ok := c.mds[v.SpecVersion]; ok {
		rt = old
	} else {
		c.mds[v.SpecVersion] = rt
	}
	c.mdMu.Unlock()
	c.log.Debug("subtensor: metadata", "spec", v.SpecVersion, "version", md.Version)
	return rt, nil
}

// fetchMetadata reads the newest metadata the runtime at a block offers:
// v16 or v15 through Metadata_metadata_at_version (they describe the
// runtime APIs' types), else v14 from state_getMetadata.
func (c *Client) fetchMetadata(ctx context.Context, at bistro.Hash) (*scale.Metadata, error) {
	want := []uint32{15}
	if b, err := c.StateCall(ctx, "Metadata_metadata_versions", nil, at); err == nil {
		if vs, err := decodeU32s(b); err == nil {
			want = want[:0]
			for _, v := range []uint32{16, 15} {
				for _, x := range vs {
					if x == v {
						want = append(want, v)
					}
				}
			}
		}
	} else if ctx.Err() != nil {
		return nil, err
	}
	for _, v := range want {
		arg := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		b, err := c.StateCall(ctx, "Metadata_metadata_at_version", arg, at)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			continue
		}
		raw, err := scale.UnwrapOpaqueMetadata(b)
		if err != nil {
			continue
		}
		md, err := scale.DecodeMetadata(raw)
		if err != nil {
			return nil, err
		}
		return md, nil
	}
	var s string
	if err := c.Call(ctx, "state_getMetadata", []any{hashParam(at)}, &s); err != nil {
		return nil, err
	}
	return scale.DecodeMetadataHex(s)
}

func decodeU32s(b []byte) ([]uint32, error) {
	r := scale.NewReader(b)
	n, err := r.Compact()
	if err != nil {
		return nil, err
	}
	if n > uint64(r.Len()/4) {
		return nil, fmt.Errorf("%w: %d u32s in %d bytes", scale.ErrDecode, n, r.Len())
	}
	out := make([]uint32, n)
	for i := range out {
		if out[i], err = r.U32(); err != nil {
			return nil, err
		}
	}
	return out, r.Done()
}

// signerLock returns the mutex that serializes k's submissions.
func (c *Client) signerLock(k bistro.Hotkey) *sync.Mutex {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	m, ok := c.signers[k]
	if !ok {
		m = &sync.Mutex{}
		c.signers[k] = m
	}
	return m
}

// errNoSubnet wraps subtensor.ErrNoSubnet with the netuid.
func errNoSubnet(netuid uint16) error {
	return fmt.Errorf("netuid %d: %w", netuid, subtensor.ErrNoSubnet)
}
