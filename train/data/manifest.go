package data

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sync"

	"github.com/bistro-go/bistro"
)

// ManifestFormat is the format of a token-shard manifest.
const ManifestFormat = "bistro/dataset/tokens/v1"

// Token dtypes of a shard: little-endian unsigned integers of 1, 2 or 4
// bytes.
const (
	DtypeUint8  = "uint8"
	DtypeUint16 = "uint16"
	DtypeUint32 = "uint32"
)

// Limits a reader enforces before trusting a manifest.
const (
	// MaxManifestBytes bounds the manifest file.
	MaxManifestBytes = 64 << 20
	// MaxShards bounds the shards of one manifest.
	MaxShards = 1 << 18
	// DefaultMaxShardBytes is ShardOptions.MaxShardBytes's default.
	DefaultMaxShardBytes = 1 << 30
)

// ErrManifest is wrapped by errors about a manifest that is not well formed.
var ErrManifest = errors.New("data: bad dataset manifest")

// Manifest describes a dataset of token shards (format ManifestFormat). It
// is published as a JSON file, and the SHA-256 of that file's bytes is the
// dataset digest that Params pins.
//
// The shards are objects beside the manifest: the key of a shard is
// path.Join(path.Dir(manifest key), Shard.Key). A shard holds Tokens token
// ids, each a little-endian unsigned integer of Dtype, nothing else (the
// file has Tokens × width bytes). Pages are cut shard by shard: shard s holds
// P_s = ⌊Tokens_s / PageLength⌋ whole pages (its tail is unused), numbered
// after the pages of shards 0 … s−1; page j of shard s is its tokens
// [j·L, (j+1)·L). Of the P = Σ P_s pages, 0 … P−HeldOut−1 are the training
// pages (the protocol's page ids) and the last HeldOut are held out for
// evaluation.
type Manifest struct {
	// Format is ManifestFormat.
	Format string `json:"format"`
	// Tokenizer names how the text was tokenized ("bytes", "gpt2"; see
	// package train/tokens); readers do not tokenize.
	Tokenizer string `json:"tokenizer"`
	// Vocab bounds every token: ids are in [0, Vocab).
	Vocab uint32 `json:"vocab"`
	// EOT is the id placed after every document, −1 for none.
	EOT int64 `json:"eot"`
	// Dtype is the shards' integer type: DtypeUint8, DtypeUint16 or
	// DtypeUint32, wide enough for Vocab.
	Dtype string `json:"dtype"`
	// PageLength is L, the tokens of a page (≥ 2).
	PageLength uint32 `json:"page_length"`
	// HeldOut is the number of pages, the last ones, kept for evaluation.
	HeldOut uint64 `json:"held_out"`
	// Shards are the token files, in order.
	Shards []Shard `json:"shards"`
}

// Shard is one token file of a manifest.
type Shard struct {
	// Key is relative to the manifest's folder: a bistro.ValidKey.
	Key string `json:"key"`
	// SHA256 is the digest of the shard's bytes.
	SHA256 bistro.Hash `json:"sha256"`
	// Tokens is the number of token ids in the shard (≥ 1).
	Tokens uint64 `json:"tokens"`
}

// width returns the bytes of one token of dtype, or 0 for an unknown one.
func width(dtype string) int {
	switch dtype {
	case DtypeUint8:
		return 1
	case DtypeUint16:
		return 2
	case DtypeUint32:
		return 4
	}
	return 0
}

// DtypeFor returns the narrowest dtype that holds ids in [0, vocab).
func DtypeFor(vocab uint32) string {
	switch {
	case vocab <= 1<<8:
		return DtypeUint8
	case vocab <= 1<<16:
		return DtypeUint16
	}
	return DtypeUint32
}

// ParseManifest decodes and checks a manifest: known format and dtype, a
// dtype wide enough for Vocab ≥ 2, EOT −1 or in [0, Vocab), PageLength ≥ 2,
// 1 … MaxShards shards with distinct valid keys and at least one token each,
// and at least one training page. Unknown fields are an error.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrManifest, len(b), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks m as ParseManifest does.
func (m *Manifest) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrManifest, fmt.Sprintf(format, a...))
	}
	w := width(m.Dtype)
	switch {
	case m.Format != ManifestFormat:
		return bad("format %q, want %q", m.Format, ManifestFormat)
	case w == 0:
		return bad("dtype %q (want %s, %s or %s)", m.Dtype, DtypeUint8, DtypeUint16, DtypeUint32)
	case m.Vocab < 2:
		return bad("vocab %d < 2", m.Vocab)
	case w < 4 && uint64(m.Vocab) > 1<<(8*w):
		return bad("vocab %d does not fit dtype %s", m.Vocab, m.Dtype)
	case m.EOT < -1 || m.EOT >= int64(m.Vocab):
		return bad("eot %d not −1 or in [0, %d)", m.EOT, m.Vocab)
	case m.PageLength < 2:
		return bad("page_length %d < 2", m.PageLength)
	case len(m.Shards) == 0 || len(m.Shards) > MaxShards:
		return bad("%d shards (want 1 … %d)", len(m.Shards), MaxShards)
	}
	seen := make(map[string]bool, len(m.Shards))
	for i, s := range m.Shards {
		if err := bistro.ValidKey(s.Key); err != nil {
			return bad("shard %d: %v", i, err)
		}
		if seen[s.Key] {
			return bad("shard key %q repeated", s.Key)
		}
		seen[s.Key] = true
		if s.Tokens == 0 || s.Tokens > 1<<40 {
			return bad("shard %d (%q): %d tokens (want 1 … 2^40)", i, s.Key, s.Tokens)
		}
	}
	if p := m.Pages(); m.HeldOut >= p {
		return bad("%d pages of %d tokens, %d held out: none left for training", p, m.PageLength, m.HeldOut)
	}
	return nil
}

// Pages returns P, all pages of the shards (training and held out).
func (m *Manifest) Pages() uint64 {
	var p uint64
	for _, s := range m.Shards {
		p += s.Tokens / uint64(m.PageLength)
	}
	return p
}

// Marshal returns the canonical bytes of m: json.MarshalIndent with two
// spaces, fields in struct order, and a final newline. Builders publish
// these bytes; a reader hashes whatever bytes it got.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ShardOptions tune a ShardDataset; the zero value is usable.
type ShardOptions struct {
	// CacheShards is how many verified shards are kept in memory (least
	// recently used evicted first); 0 means 2.
	CacheShards int
	// MaxShardBytes refuses manifests naming a larger shard; 0 means
	// DefaultMaxShardBytes.
	MaxShardBytes int64
}

// ShardDataset is a bistro.Dataset of token shards described by a Manifest,
// read through a bistro.Storage. The manifest is fetched and checked against
// its pin when the dataset is opened; a shard is fetched when a page of it is
// first read, its SHA-256 and length checked against the manifest and its
// tokens against Vocab, and kept in a small cache. It is safe for concurrent
// use; concurrent reads of one shard fetch it once.
type ShardDataset struct {
	store    bistro.Storage
	dir      string // the manifest key's folder, "" for the root
	m        *Manifest
	digest   bistro.Hash
	width    int
	first    []uint64 // first[s]: global index of shard s's first page; first[len] = P
	train    uint64
	cacheCap int

	mu    sync.Mutex
	tick  uint64
	cache map[int]*shardEntry
}

type shardEntry struct {
	done chan struct{} // closed once data or err is set
	data []byte
	err  error
	used uint64
}

var _ bistro.Dataset = (*ShardDataset)(nil)

// OpenManifestURL opens the storage at storeURL with bistro.Open (its driver
// must be registered: import storage/dir for file://, storage/mem for mem://,
// …) and the dataset whose manifest is at key there; see OpenManifest.
func OpenManifestURL(ctx context.Context, storeURL, key string, pin bistro.Hash, o ShardOptions) (*ShardDataset, error) {
	st, err := bistro.Open(ctx, storeURL)
	if err != nil {
		return nil, err
	}
	return OpenManifest(ctx, st, key, pin, o)
}

// OpenManifest reads the manifest at key in store, checks that its SHA-256
// is pin (Params.DatasetDigest; ErrDigest otherwise) and that it is well
// formed (ErrManifest), and returns the dataset. No shard is read yet.
func OpenManifest(ctx context.Context, store bistro.Storage, key string, pin bistro.Hash, o ShardOptions) (*ShardDataset, error) {
	if store == nil {
		return nil, errors.New("data: nil storage")
	}
	if pin.IsZero() {
		return nil, errors.New("data: no manifest digest to pin the dataset to")
	}
	if err := bistro.ValidKey(key); err != nil {
		return nil, fmt.Errorf("data: manifest key: %w", err)
	}
	b, got, err := bistro.Fetch(ctx, store, key, MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("data: manifest %q: %w", key, err)
	}
	if got != pin {
		return nil, fmt.Errorf("%w: manifest %q has SHA-256 %s, pinned %s", ErrDigest, key, got, pin)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, err
	}
	maxShard := o.MaxShardBytes
	if maxShard <= 0 {
		maxShard = DefaultMaxShardBytes
	}
	d := &ShardDataset{store: store, m: m, digest: got, width: width(m.Dtype),
		first: make([]uint64, len(m.Shards)+1), cacheCap: o.CacheShards, cache: map[int]*shardEntry{}}
	if d.cacheCap <= 0 {
		d.cacheCap = 2
	}
	if dir := path.Dir(key); dir != "." {
		d.dir = dir
	}
	for i, s := range m.Shards {
		if s.Tokens > uint64(maxShard)/uint64(d.width) {
			return nil, fmt.Errorf("%w: shard %d (%q) of %d tokens is larger than %d bytes",
				ErrManifest, i, s.Key, s.Tokens, maxShard)
		}
		if err := bistro.ValidKey(d.shardKey(i)); err != nil {
			return nil, fmt.Errorf("%w: shard %d: %w", ErrManifest, i, err)
		}
		d.first[i+1] = d.first[i] + s.Tokens/uint64(m.PageLength)
	}
	d.train = d.first[len(m.Shards)] - m.HeldOut
	return d, nil
}

func (d *ShardDataset) shardKey(s int) string {
	if d.dir == "" {
		return d.m.Shards[s].Key
	}
	return d.dir + "/" + d.m.Shards[s].Key
}

// Manifest returns the manifest; callers must not modify it.
func (d *ShardDataset) Manifest() *Manifest { return d.m }

// Digest returns the SHA-256 of the manifest's bytes.
func (d *ShardDataset) Digest() bistro.Hash { return d.digest }

// Pages returns the number of training pages.
func (d *ShardDataset) Pages() uint64 { return d.train }

// HeldOutPages returns the number of held-out pages.
func (d *ShardDataset) HeldOutPages() uint64 { return d.m.HeldOut }

// PageLength returns L.
func (d *ShardDataset) PageLength() int { return int(d.m.PageLength) }

// Page appends the tokens of training page id to dst[:0].
func (d *ShardDataset) Page(ctx context.Context, id uint64, dst []int32) ([]int32, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if id >= d.train {
		return dst, fmt.Errorf("%w: page %d of %d training pages", bistro.ErrNoPage, id, d.train)
	}
	return d.page(ctx, id, dst)
}

// HeldOut returns every held-out page, in order (as OpticsDataset.HeldOut
// does): the evaluation set.
func (d *ShardDataset) HeldOut(ctx context.Context) ([][]int32, error) {
	out := make([][]int32, 0, d.m.HeldOut)
	for i := range d.m.HeldOut {
		p, err := d.HeldOutPage(ctx, i, make([]int32, 0, d.m.PageLength))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// HeldOutPage returns held-out page i (0 … HeldOutPages()−1), global page
// Pages()+i, appended to dst[:0].
func (d *ShardDataset) HeldOutPage(ctx context.Context, i uint64, dst []int32) ([]int32, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if i >= d.m.HeldOut {
		return dst, fmt.Errorf("%w: held-out page %d of %d", bistro.ErrNoPage, i, d.m.HeldOut)
	}
	return d.page(ctx, d.train+i, dst)
}

// page appends global page g.
func (d *ShardDataset) page(ctx context.Context, g uint64, dst []int32) ([]int32, error) {
	s := shardOf(d.first, g)
	data, err := d.shard(ctx, s)
	if err != nil {
		return dst, err
	}
	l := uint64(d.m.PageLength)
	start := (g - d.first[s]) * l * uint64(d.width)
	return decodeTokens(dst[:0], data[start:start+l*uint64(d.width)], d.width), nil
}

// shardOf returns the s with first[s] ≤ g < first[s+1].
func shardOf(first []uint64, g uint64) int {
	lo, hi := 0, len(first)-2
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if first[mid] <= g {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

func decodeTokens(dst []int32, b []byte, w int) []int32 {
	switch w {
	case 1:
		for _, c := range b {
			dst = append(dst, int32(c))
		}
	case 2:
		for i := 0; i < len(b); i += 2 {
			dst = append(dst, int32(binary.LittleEndian.Uint16(b[i:])))
		}
	default:
		for i := 0; i < len(b); i += 4 {
			dst = append(dst, int32(binary.LittleEndian.Uint32(b[i:])))
		}
	}
	return dst
}

// shard returns the verified bytes of shard s, from the cache or fetched. A
// failed fetch is not cached: the next read tries again.
func (d *ShardDataset) shard(ctx context.Context, s int) ([]byte, error) {
	d.mu.Lock()
	d.tick++
	e, ok := d.cache[s]
	if ok {
		e.used = d.tick
		d.mu.Unlock()
	} else {
		e = &shardEntry{done: make(chan struct{}), used: d.tick}
		d.cache[s] = e
		d.evictLocked()
		d.mu.Unlock()
		e.data, e.err = d.load(ctx, s)
		close(e.done)
		if e.err != nil {
			d.mu.Lock()
			if d.cache[s] == e {
				delete(d.cache, s)
			}
			d.mu.Unlock()
		}
	}
	select {
	case <-e.done:
		return e.data, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evictLocked drops the least recently used loaded shards beyond the cache's
// capacity; shards being fetched stay.
func (d *ShardDataset) evictLocked() {
	for len(d.cache) > d.cacheCap {
		victim, oldest := -1, uint64(0)
		for s, e := range d.cache {
			select {
			case <-e.done:
			default:
				continue
			}
			if victim < 0 || e.used < oldest {
				victim, oldest = s, e.used
			}
		}
		if victim < 0 {
			return
		}
		delete(d.cache, victim)
	}
}

// load fetches shard s and checks its length, digest and tokens.
func (d *ShardDataset) load(ctx context.Context, s int) ([]byte, error) {
	sh := d.m.Shards[s]
	key := d.shardKey(s)
	size := int64(sh.Tokens) * int64(d.width)
	b, got, err := bistro.Fetch(ctx, d.store, key, size)
	if err != nil {
		return nil, fmt.Errorf("data: shard %d (%q): %w", s, key, err)
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%w: shard %d (%q) has %d bytes, the manifest says %d tokens of %s (%d bytes)",
			ErrDigest, s, key, len(b), sh.Tokens, d.m.Dtype, size)
	}
	if got != sh.SHA256 {
		return nil, fmt.Errorf("%w: shard %d (%q) has SHA-256 %s, the manifest pins %s", ErrDigest, s, key, got, sh.SHA256)
	}
	if d.width > 1 || d.m.Vocab < 256 {
		var buf []int32
		for off := 0; off < len(b); off += 4096 * d.width {
			buf = decodeTokens(buf[:0], b[off:min(off+4096*d.width, len(b))], d.width)
			for i, t := range buf {
				if t < 0 || uint32(t) >= d.m.Vocab {
					return nil, fmt.Errorf("%w: shard %d (%q) token %d is %d, vocab is %d",
						ErrManifest, s, key, off/d.width+i, uint32(t), d.m.Vocab)
				}
			}
		}
	}
	return b, nil
}

// Verify fetches every shard in order and checks it as reading a page would;
// it returns the first error. Operators run it after publishing a dataset.
func (d *ShardDataset) Verify(ctx context.Context) error {
	for s := range d.m.Shards {
		if _, err := d.load(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// String describes the dataset for logs.
func (d *ShardDataset) String() string {
	return fmt.Sprintf("%s shards: %d+%d pages of %d %s tokens in %d shards, manifest %s",
		d.m.Tokenizer, d.train, d.m.HeldOut, d.m.PageLength, d.m.Dtype, len(d.m.Shards), d.digest.String()[:8])
}

// manifestDigest is the digest of a token dataset: the SHA-256 of its
// manifest's bytes, exactly as stored.
func manifestDigest(b []byte) bistro.Hash { return sha256.Sum256(b) }
