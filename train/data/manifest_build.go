package data

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/bistro-go/bistro"
)

// ManifestName is the key, within its folder, under which Builder publishes
// a manifest.
const ManifestName = "manifest.json"

// DefaultShardTokens is about how many tokens BuildOptions.ShardPages gives a
// shard by default (32 MiB of uint16).
const DefaultShardTokens = 1 << 24

// Tokenizer is what a Builder needs of a tokenizer; every
// train/tokens.Tokenizer is one. (Package data does not import
// train/tokens, so that readers of datasets do not link the BPE tables.)
type Tokenizer interface {
	// Name is recorded in the manifest.
	Name() string
	// Vocab bounds the ids: [0, Vocab).
	Vocab() int
	// EOT is appended after every document, unless it is −1.
	EOT() int32
	// Encode appends the ids of text to dst.
	Encode(dst []int32, text []byte) ([]int32, error)
}

// BuildOptions say how a Builder tokenizes, cuts and stores a dataset.
type BuildOptions struct {
	// Tokenizer turns each document into ids (required), such as
	// tokens.Bytes{} or tokens.NewGPT2().
	Tokenizer Tokenizer
	// PageLength is L (≥ 2).
	PageLength int
	// HeldOut is the number of pages, the last ones, kept for evaluation.
	HeldOut uint64
	// ShardPages is the number of pages per shard (the last shard may hold
	// fewer, plus a tail shorter than a page); 0 means
	// max(1, DefaultShardTokens / PageLength).
	ShardPages int
	// Folder is where shards and manifest go in the storage: "" for its
	// root, else a valid key prefix without a trailing '/'.
	Folder string
}

// Builder makes a token dataset: documents in, shards and a manifest out.
// Each document's ids are followed by the tokenizer's EOT (when it has one)
// and appended to one stream of tokens; every ShardPages·L tokens of the
// stream become a shard, named shard-000000.bin, shard-000001.bin, … in the
// folder. The result does not depend on how the text is split into calls,
// only on the documents and their order. A Builder is not safe for
// concurrent use.
type Builder struct {
	store       bistro.Storage
	o           BuildOptions
	m           Manifest
	width       int
	shardTokens int
	buf         []byte // the current shard
	ids         []int32
	docs        uint64
	done        bool
}

// NewBuilder returns a Builder that writes to store.
func NewBuilder(store bistro.Storage, o BuildOptions) (*Builder, error) {
	switch {
	case store == nil:
		return nil, errors.New("data: builder: nil storage")
	case o.Tokenizer == nil:
		return nil, errors.New("data: builder: no tokenizer")
	case o.PageLength < 2 || o.PageLength > 1<<30:
		return nil, fmt.Errorf("data: builder: page length %d not in [2, 2^30]", o.PageLength)
	case o.ShardPages < 0:
		return nil, fmt.Errorf("data: builder: shard pages %d < 0", o.ShardPages)
	case o.Tokenizer.Vocab() < 2 || uint64(o.Tokenizer.Vocab()) > math.MaxUint32:
		return nil, fmt.Errorf("data: builder: tokenizer vocabulary %d not in [2, 2^32)", o.Tokenizer.Vocab())
	}
	if o.Folder != "" {
		if err := bistro.ValidKey(o.Folder); err != nil {
			return nil, fmt.Errorf("data: builder: folder: %w", err)
		}
	}
	if o.ShardPages == 0 {
		o.ShardPages = max(1, DefaultShardTokens/o.PageLength)
	}
	vocab := uint32(o.Tokenizer.Vocab())
	b := &Builder{store: store, o: o, m: Manifest{
		Format:     ManifestFormat,
		Tokenizer:  o.Tokenizer.Name(),
		Vocab:      vocab,
		EOT:        int64(o.Tokenizer.EOT()),
		Dtype:      DtypeFor(vocab),
		PageLength: uint32(o.PageLength),
		HeldOut:    o.HeldOut,
	}}
	b.width = width(b.m.Dtype)
	b.shardTokens = o.ShardPages * o.PageLength
	return b, nil
}

func (b *Builder) key(name string) string {
	if b.o.Folder == "" {
		return name
	}
	return b.o.Folder + "/" + name
}

// Add appends one document.
func (b *Builder) Add(ctx context.Context, text []byte) error {
	if b.done {
		return errors.New("data: builder: Add after Finish")
	}
	var err error
	if b.ids, err = b.o.Tokenizer.Encode(b.ids[:0], text); err != nil {
		return fmt.Errorf("data: document %d: %w", b.docs, err)
	}
	if eot := b.o.Tokenizer.EOT(); eot >= 0 {
		b.ids = append(b.ids, eot)
	}
	b.docs++
	for _, id := range b.ids {
		if id < 0 || uint32(id) >= b.m.Vocab {
			return fmt.Errorf("data: document %d: tokenizer gave id %d outside [0, %d)", b.docs-1, id, b.m.Vocab)
		}
		switch b.width {
		case 1:
			b.buf = append(b.buf, byte(id))
		case 2:
			b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(id))
		default:
			b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(id))
		}
		if len(b.buf) == b.shardTokens*b.width {
			if err := b.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush stores the current shard, if any.
func (b *Builder) flush(ctx context.Context) error {
	if len(b.buf) == 0 {
		return nil
	}
	if len(b.m.Shards) >= MaxShards {
		return fmt.Errorf("data: builder: more than %d shards (raise ShardPages)", MaxShards)
	}
	name := fmt.Sprintf("shard-%06d.bin", len(b.m.Shards))
	if err := b.store.Put(ctx, b.key(name), bytes.NewReader(b.buf), int64(len(b.buf))); err != nil {
		return fmt.Errorf("data: store shard %q: %w", b.key(name), err)
	}
	b.m.Shards = append(b.m.Shards, Shard{Key: name, SHA256: sha256.Sum256(b.buf), Tokens: uint64(len(b.buf) / b.width)})
	b.buf = b.buf[:0]
	return nil
}

// Documents returns the number of documents added so far.
func (b *Builder) Documents() uint64 { return b.docs }

// Finish stores the last shard and the manifest (at Folder/ManifestName)
// and returns the manifest, its key and its digest, the value of
// Params.DatasetDigest. A dataset without a training page is an error.
func (b *Builder) Finish(ctx context.Context) (*Manifest, string, bistro.Hash, error) {
	if b.done {
		return nil, "", bistro.Hash{}, errors.New("data: builder: Finish called twice")
	}
	b.done = true
	if err := b.flush(ctx); err != nil {
		return nil, "", bistro.Hash{}, err
	}
	if len(b.m.Shards) == 0 {
		return nil, "", bistro.Hash{}, fmt.Errorf("%w: no tokens (no documents?)", ErrManifest)
	}
	if err := b.m.Validate(); err != nil {
		return nil, "", bistro.Hash{}, err
	}
	raw, err := b.m.Marshal()
	if err != nil {
		return nil, "", bistro.Hash{}, err
	}
	key := b.key(ManifestName)
	if err := b.store.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
		return nil, "", bistro.Hash{}, fmt.Errorf("data: store manifest %q: %w", key, err)
	}
	m := b.m
	return &m, key, manifestDigest(raw), nil
}
