package client

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/scale"
)

func hexString(b []byte) string { return "0x" + hex.EncodeToString(b) }

func parseHash(s string) (bistro.Hash, error) {
	b, err := scale.DecodeHex(s)
	if err != nil || len(b) != 32 {
		return bistro.Hash{}, fmt.Errorf("subtensor/client: bad block hash %q", s)
	}
	return bistro.Hash(b), nil
}

// Header is a block header.
type Header struct {
	// Hash is the header's BLAKE2b-256 hash: the block hash.
	Hash           bistro.Hash
	ParentHash     bistro.Hash
	Number         bistro.Block
	StateRoot      bistro.Hash
	ExtrinsicsRoot bistro.Hash
	// Digest holds the SCALE encoding of each digest item.
	Digest [][]byte
}

// rpcHeader is a header as JSON-RPC gives it.
type rpcHeader struct {
	ParentHash     string `json:"parentHash"`
	Number         string `json:"number"`
	StateRoot      string `json:"stateRoot"`
	ExtrinsicsRoot string `json:"extrinsicsRoot"`
	Digest         struct {
		Logs []string `json:"logs"`
	} `json:"digest"`
}

// parse decodes the header and computes its hash from its SCALE encoding
// (parent, compact number, state root, extrinsics root, digest), as
// Substrate does.
func (r *rpcHeader) parse() (*Header, error) {
	h := &Header{}
	var err error
	if h.ParentHash, err = parseHash(r.ParentHash); err != nil {
		return nil, err
	}
	if h.StateRoot, err = parseHash(r.StateRoot); err != nil {
		return nil, err
	}
	if h.ExtrinsicsRoot, err = parseHash(r.ExtrinsicsRoot); err != nil {
		return nil, err
	}
	n, err := parseHexNumber(r.Number)
	if err != nil {
		return nil, err
	}
	h.Number = bistro.Block(n)
	enc := make([]byte, 0, 32*3+8+64*len(r.Digest.Logs))
	enc = append(enc, h.ParentHash[:]...)
	enc = scale.AppendCompact(enc, n)
	enc = append(enc, h.StateRoot[:]...)
	enc = append(enc, h.ExtrinsicsRoot[:]...)
	enc = scale.AppendCompact(enc, uint64(len(r.Digest.Logs)))
	for _, l := range r.Digest.Logs {
		b, err := scale.DecodeHex(l)
		if err != nil {
			return nil, fmt.Errorf("subtensor/client: header digest: %w", err)
		}
		h.Digest = append(h.Digest, b)
		enc = append(enc, b...)
	}
	h.Hash = bistro.Hash(scale.Blake2b256(enc))
	return h, nil
}

// parseHexNumber reads a block number as nodes send it: "0x…" hex, or a
// JSON number.
func parseHexNumber(s string) (uint64, error) {
	if strings.HasPrefix(s, "0x") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

// BlockHash returns the hash of block n of the best chain, or
// subtensor.ErrFutureBlock when the chain has no block n yet.
func (c *Client) BlockHash(ctx context.Context, n bistro.Block) (bistro.Hash, error) {
	var s *string
	if err := c.Call(ctx, "chain_getBlockHash", []any{uint64(n)}, &s); err != nil {
		return bistro.Hash{}, err
	}
	if s == nil {
		return bistro.Hash{}, fmt.Errorf("block %d: %w", n, subtensor.ErrFutureBlock)
	}
	return parseHash(*s)
}

// Header returns the header of a block (zero hash: the best block), or
// bistro.ErrNotFound for an unknown hash. Hash is BLAKE2b-256 of the
// header's SCALE encoding, as Substrate computes block hashes; for a hash
// asked for, the one asked for.
func (c *Client) Header(ctx context.Context, hash bistro.Hash) (*Header, error) {
	var r *rpcHeader
	if err := c.Call(ctx, "chain_getHeader", []any{hashParam(hash)}, &r); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("subtensor/client: header %s: %w", hash, bistro.ErrNotFound)
	}
	h, err := r.parse()
	if err != nil {
		return nil, err
	}
	if !hash.IsZero() && h.Hash != hash {
		// A runtime with another header layout: trust the node's hash.
		h.Hash = hash
	}
	return h, nil
}

// BestHeader returns the header of the best block; its Hash is computed
// from the header (see Header).
func (c *Client) BestHeader(ctx context.Context) (*Header, error) {
	return c.Header(ctx, bistro.Hash{})
}

// FinalizedHead returns the number and hash of the last finalized block.
func (c *Client) FinalizedHead(ctx context.Context) (bistro.Block, bistro.Hash, error) {
	var s string
	if err := c.Call(ctx, "chain_getFinalizedHead", nil, &s); err != nil {
		return 0, bistro.Hash{}, err
	}
	h, err := parseHash(s)
	if err != nil {
		return 0, bistro.Hash{}, err
	}
	hd, err := c.Header(ctx, h)
	if err != nil {
		return 0, bistro.Hash{}, err
	}
	return hd.Number, h, nil
}

// Head returns the best block as a stream would: number, hash, timestamp
// and the finalized number of the moment.
func (c *Client) Head(ctx context.Context) (bistro.Head, error) {
	hd, err := c.BestHeader(ctx)
	if err != nil {
		return bistro.Head{}, err
	}
	return c.headOf(ctx, hd, 0)
}

// headOf completes a header into a Head: its timestamp and the finalized
// number, at least floor and at most the header's number.
func (c *Client) headOf(ctx context.Context, hd *Header, floor bistro.Block) (bistro.Head, error) {
	t, err := c.Timestamp(ctx, hd.Hash)
	if err != nil {
		return bistro.Head{}, err
	}
	fin, _, err := c.FinalizedHead(ctx)
	if err != nil {
		return bistro.Head{}, err
	}
	return bistro.Head{Number: hd.Number, Hash: hd.Hash, Time: t, Finalized: min(max(fin, floor), hd.Number)}, nil
}

// timestampKey is Timestamp.Now's storage key: twox128("Timestamp") ‖
// twox128("Now"), the same in every runtime.
var timestampKey = scale.AppendTwox(scale.AppendTwox(nil, []byte("Timestamp"), 2), []byte("Now"), 2)

// Timestamp returns a block's timestamp (Timestamp.Now, milliseconds); the
// genesis block, which has none, reads as the zero time.
func (c *Client) Timestamp(ctx context.Context, at bistro.Hash) (time.Time, error) {
	b, err := c.Storage(ctx, timestampKey, at)
	if err != nil {
		return time.Time{}, err
	}
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("subtensor/client: Timestamp.Now has %d bytes", len(b))
	}
	ms := binary.LittleEndian.Uint64(b)
	if ms == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// Storage returns the raw value under key at block hash (zero: the best
// block), nil when there is none.
func (c *Client) Storage(ctx context.Context, key []byte, at bistro.Hash) ([]byte, error) {
	var s *string
	if err := c.Call(ctx, "state_getStorage", []any{hexString(key), hashParam(at)}, &s); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, nil
	}
	b, err := scale.DecodeHex(*s)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// StorageKeysPaged returns up to count keys under prefix that sort after
// startKey (nil: from the first), at block hash.
func (c *Client) StorageKeysPaged(ctx context.Context, prefix []byte, count int, startKey []byte, at bistro.Hash) ([][]byte, error) {
	var start any
	if startKey != nil {
		start = hexString(startKey)
	}
	var ss []string
	if err := c.Call(ctx, "state_getKeysPaged", []any{hexString(prefix), count, start, hashParam(at)}, &ss); err != nil {
		return nil, err
	}
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := scale.DecodeHex(s)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// StorageKeys returns every key under prefix at block hash, reading pages
// of 1000.
func (c *Client) StorageKeys(ctx context.Context, prefix []byte, at bistro.Hash) ([][]byte, error) {
	const page = 1000
	var all [][]byte
	var start []byte
	for {
		keys, err := c.StorageKeysPaged(ctx, prefix, page, start, at)
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
		if len(keys) < page {
			return all, nil
		}
		start = keys[len(keys)-1]
	}
}

// StorageMany returns the values under keys at block hash, in order (nil
// where there is none), with one state_queryStorageAt call, or one
// state_getStorage per key where the node lacks that method.
func (c *Client) StorageMany(ctx context.Context, keys [][]byte, at bistro.Hash) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	hexKeys := make([]string, len(keys))
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		hexKeys[i] = hexString(k)
		index[hexKeys[i]] = i
	}
	var sets []struct {
		Changes [][2]*string `json:"changes"`
	}
	err := c.Call(ctx, "state_queryStorageAt", []any{hexKeys, hashParam(at)}, &sets)
	var rpcErr *RPCError
	if errors.As(err, &rpcErr) && rpcErr.Code == codeMethodNotFound {
		for i, k := range keys {
			if out[i], err = c.Storage(ctx, k, at); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, set := range sets {
		for _, ch := range set.Changes {
			if ch[0] == nil || ch[1] == nil {
				continue
			}
			i, ok := index[strings.ToLower(*ch[0])]
			if !ok {
				continue
			}
			b, err := scale.DecodeHex(*ch[1])
			if err != nil {
				return nil, err
			}
			if b == nil {
				b = []byte{}
			}
			out[i] = b
		}
	}
	return out, nil
}

// StateCall calls a runtime API method ("NeuronInfoRuntimeApi_get_neurons_lite")
// with SCALE-encoded args at block hash and returns the SCALE result.
func (c *Client) StateCall(ctx context.Context, method string, args []byte, at bistro.Hash) ([]byte, error) {
	var s string
	if err := c.Call(ctx, "state_call", []any{method, hexString(args), hashParam(at)}, &s); err != nil {
		return nil, err
	}
	return scale.DecodeHex(s)
}

// Block is a block's header and its extrinsics, each as SCALE bytes with
// its length prefix.
type Block struct {
	Header     *Header
	Extrinsics [][]byte
}

// Block returns a block by hash (zero: the best block).
func (c *Client) Block(ctx context.Context, hash bistro.Hash) (*Block, error) {
	var r *struct {
		Block struct {
			Header     rpcHeader `json:"header"`
			Extrinsics []string  `json:"extrinsics"`
		} `json:"block"`
	}
	if err := c.Call(ctx, "chain_getBlock", []any{hashParam(hash)}, &r); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("subtensor/client: block %s: %w", hash, bistro.ErrNotFound)
	}
	h, err := r.Block.Header.parse()
	if err != nil {
		return nil, err
	}
	if !hash.IsZero() {
		h.Hash = hash
	}
	b := &Block{Header: h, Extrinsics: make([][]byte, len(r.Block.Extrinsics))}
	for i, x := range r.Block.Extrinsics {
		if b.Extrinsics[i], err = scale.DecodeHex(x); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Events returns the events of a block (System.Events), decoded with the
// metadata of the block's runtime.
func (c *Client) Events(ctx context.Context, at bistro.Hash) ([]scale.EventRecord, error) {
	md, err := c.Metadata(ctx, at)
	if err != nil {
		return nil, err
	}
	key, err := md.StorageKey("System", "Events")
	if err != nil {
		return nil, err
	}
	b, err := c.Storage(ctx, key, at)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, nil
	}
	return md.DecodeEvents(b)
}
