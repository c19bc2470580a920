package data_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/golden"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/tokens"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// build makes a dataset of docs in store and returns its manifest key and
// digest.
func build(t *testing.T, store bistro.Storage, o data.BuildOptions, docs ...string) (string, bistro.Hash) {
	t.Helper()
	b, err := data.NewBuilder(store, o)
	require.NoError(t, err)
	for _, d := range docs {
		require.NoError(t, b.Add(context.Background(), []byte(d)))
	}
	_, key, digest, err := b.Finish(context.Background())
	require.NoError(t, err)
	return key, digest
}

// stream is what the builder should write: each document's ids, then EOT.
func stream(t *testing.T, tok tokens.Tokenizer, docs ...string) []int32 {
	t.Helper()
	var ids []int32
	for _, d := range docs {
		var err error
		ids, err = tok.Encode(ids, []byte(d))
		require.NoError(t, err)
		if tok.EOT() >= 0 {
			ids = append(ids, tok.EOT())
		}
	}
	return ids
}

func TestManifestPages(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	docs := []string{strings.Repeat("abcdefghij", 7), "The quick brown fox.", strings.Repeat("xyz", 11)}
	const l, perShard = 8, 3
	key, digest := build(t, store, data.BuildOptions{Tokenizer: tokens.Bytes{}, PageLength: l, HeldOut: 2,
		ShardPages: perShard, Folder: "datasets/tiny"}, docs...)
	assert.Equal(t, "datasets/tiny/manifest.json", key)
	raw, err := store.Get(ctx, key, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, bistro.Hash(sha256.Sum256(raw)), digest, "the digest is the SHA-256 of the manifest's bytes")

	ds, err := data.OpenManifest(ctx, store, key, digest, data.ShardOptions{CacheShards: 1})
	require.NoError(t, err)
	all := stream(t, tokens.Bytes{}, docs...) // 70 + 20 + 33 = 123 bytes
	require.Len(t, all, 123)
	m := ds.Manifest()
	assert.Equal(t, data.DtypeUint8, m.Dtype)
	assert.Equal(t, int64(-1), m.EOT)
	// Shards of 24 tokens: 5 full ones (3 pages each) and one of 3 (no page).
	require.Len(t, m.Shards, 6)
	assert.Equal(t, uint64(3), m.Shards[5].Tokens)
	assert.Equal(t, uint64(15), m.Pages())
	assert.Equal(t, uint64(13), ds.Pages())
	assert.Equal(t, uint64(2), ds.HeldOutPages())
	assert.Equal(t, l, ds.PageLength())
	assert.Equal(t, digest, ds.Digest())

	// Page g of shard s = ⌊g/3⌋ is that shard's tokens [(g mod 3)·8, …+8).
	var buf []int32
	for id := range uint64(13) {
		buf, err = ds.Page(ctx, id, buf)
		require.NoError(t, err)
		s, j := id/perShard, id%perShard
		start := s*perShard*l + j*l
		assert.Equal(t, all[start:start+l], buf, "page %d", id)
	}
	for i := range uint64(2) {
		buf, err = ds.HeldOutPage(ctx, i, buf)
		require.NoError(t, err)
		start := (13 + i) * l
		assert.Equal(t, all[start:start+l], buf, "held-out page %d", i)
	}
	for _, id := range []uint64{13, 15, 1 << 40} {
		_, err = ds.Page(ctx, id, nil)
		assert.ErrorIs(t, err, bistro.ErrNoPage, "page %d", id)
	}
	_, err = ds.HeldOutPage(ctx, 2, nil)
	assert.ErrorIs(t, err, bistro.ErrNoPage)
	held, err := ds.HeldOut(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]int32{all[13*l : 14*l], all[14*l : 15*l]}, held)
	require.NoError(t, ds.Verify(ctx))

	// Concurrent readers with a one-shard cache get the right pages.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var b []int32
			for k := range 30 {
				id := uint64((w*7 + k*5) % 13)
				b, err := ds.Page(ctx, id, b)
				if !assert.NoError(t, err) {
					return
				}
				s, j := id/perShard, id%perShard
				start := s*perShard*l + j*l
				assert.Equal(t, all[start:start+l], b)
			}
		})
	}
	wg.Wait()

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ds.Page(cancelled, 0, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

// A dataset opened by URL through a registered driver (file://), with the
// GPT-2 tokenizer: uint16 shards, <|endoftext|> after every document.
func TestManifestURLGPT2(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := dir.New(root)
	require.NoError(t, err)
	gpt2, err := tokens.NewGPT2()
	require.NoError(t, err)
	docs := []string{"Hello world", "Hello, world! I'm here.", "The quick brown fox jumps over the lazy dog."}
	key, digest := build(t, st, data.BuildOptions{Tokenizer: gpt2, PageLength: 4, Folder: "gpt2"}, docs...)
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(root)}
	ds, err := data.OpenManifestURL(ctx, u.String(), key, digest, data.ShardOptions{})
	require.NoError(t, err)
	assert.Equal(t, data.DtypeUint16, ds.Manifest().Dtype)
	assert.Equal(t, int64(50256), ds.Manifest().EOT)
	all := stream(t, gpt2, docs...)
	assert.Equal(t, []int32{15496, 995, 50256}, all[:3])
	require.Equal(t, uint64(len(all)/4), ds.Pages())
	for id := range ds.Pages() {
		p, err := ds.Page(ctx, id, nil)
		require.NoError(t, err)
		assert.Equal(t, all[id*4:id*4+4], p)
	}
	// The shard is a file of little-endian uint16 ids.
	b, err := os.ReadFile(filepath.Join(root, "gpt2", "shard-000000.bin"))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x88, 0x3c, 0xe3, 0x03, 0x50, 0xc4}, b[:6], "15496, 995, 50256")
	_, err = data.OpenManifestURL(ctx, "nosuch://x", key, digest, data.ShardOptions{})
	assert.ErrorContains(t, err, "forgotten import")
}

func TestManifestPinning(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	key, digest := build(t, store, data.BuildOptions{Tokenizer: tokens.Bytes{}, PageLength: 4, ShardPages: 2},
		"0123456789abcdefghijklmnopqrstuvwxyz")
	assert.Equal(t, "manifest.json", key)

	// Another pin: the manifest is refused.
	other := digest
	other[0] ^= 1
	_, err := data.OpenManifest(ctx, store, key, other, data.ShardOptions{})
	require.ErrorIs(t, err, data.ErrDigest)
	assert.ErrorContains(t, err, digest.String(), "the error names the digest found")
	_, err = data.OpenManifest(ctx, store, key, bistro.Hash{}, data.ShardOptions{})
	assert.Error(t, err, "no pin")
	_, err = data.OpenManifest(ctx, store, "missing.json", digest, data.ShardOptions{})
	assert.ErrorIs(t, err, bistro.ErrNotFound)

	// A shard with other bytes of the same length: a clear digest error on
	// the first page read from it, naming the shard; other shards still read.
	ds, err := data.OpenManifest(ctx, store, key, digest, data.ShardOptions{})
	require.NoError(t, err)
	put := func(k string, b []byte) {
		require.NoError(t, store.Put(ctx, k, bytes.NewReader(b), int64(len(b))))
	}
	put("shard-000001.bin", []byte("XXXXXXXX"))
	_, err = ds.Page(ctx, 2, nil) // shard 1
	require.ErrorIs(t, err, data.ErrDigest)
	assert.ErrorContains(t, err, `shard 1 ("shard-000001.bin") has SHA-256`)
	_, err = ds.Page(ctx, 0, nil)
	assert.NoError(t, err)
	assert.ErrorIs(t, ds.Verify(ctx), data.ErrDigest)

	// A shorter or longer shard is refused too.
	put("shard-000001.bin", []byte("89abcde"))
	_, err = ds.Page(ctx, 2, nil)
	assert.ErrorIs(t, err, data.ErrDigest)
	put("shard-000001.bin", []byte("89abcdefg"))
	_, err = ds.Page(ctx, 2, nil)
	assert.ErrorIs(t, err, bistro.ErrTooLarge)
	// Restored, it reads again: failures are not cached.
	put("shard-000001.bin", []byte("89abcdef"))
	p, err := ds.Page(ctx, 2, nil)
	require.NoError(t, err)
	assert.Equal(t, []int32{'8', '9', 'a', 'b'}, p)
}

func TestParseManifestErrors(t *testing.T) {
	good := `{"format":"bistro/dataset/tokens/v1","tokenizer":"bytes","vocab":256,"eot":-1,"dtype":"uint8",` +
		`"page_length":4,"held_out":1,"shards":[{"key":"a.bin","sha256":"` + strings.Repeat("00", 32) + `","tokens":8}]}`
	_, err := data.ParseManifest([]byte(good))
	require.NoError(t, err)
	for _, c := range []struct{ name, from, to string }{
		{"format", `tokens/v1`, `tokens/v2`},
		{"dtype", `"uint8"`, `"int8"`},
		{"dtype too narrow", `"vocab":256`, `"vocab":257`},
		{"vocab", `"vocab":256`, `"vocab":1`},
		{"eot", `"eot":-1`, `"eot":256`},
		{"eot negative", `"eot":-1`, `"eot":-2`},
		{"page length", `"page_length":4`, `"page_length":1`},
		{"no training page", `"held_out":1`, `"held_out":2`},
		{"no shards", `[{"key":"a.bin","sha256":"` + strings.Repeat("00", 32) + `","tokens":8}]`, `[]`},
		{"key", `"a.bin"`, `"../a.bin"`},
		{"key slash", `"a.bin"`, `"/a.bin"`},
		{"empty shard", `"tokens":8`, `"tokens":0`},
		{"digest", `"sha256":"00`, `"sha256":"zz`},
		{"unknown field", `"held_out":1`, `"held_out":1,"extra":true`},
		{"trailing data", `]}`, `]} {}`},
	} {
		bad := strings.Replace(good, c.from, c.to, 1)
		require.NotEqual(t, good, bad, c.name)
		_, err := data.ParseManifest([]byte(bad))
		assert.ErrorIs(t, err, data.ErrManifest, c.name)
	}
	dup := strings.Replace(good, `"tokens":8}]`, `"tokens":8},{"key":"a.bin","sha256":"`+strings.Repeat("00", 32)+`","tokens":8}]`, 1)
	_, err = data.ParseManifest([]byte(dup))
	assert.ErrorIs(t, err, data.ErrManifest, "repeated key")
}

// A shard whose digest matches but holds a token outside the vocabulary is
// refused when read.
func TestManifestTokenOutOfVocab(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	shard := binary.LittleEndian.AppendUint16(nil, 5)
	shard = binary.LittleEndian.AppendUint16(shard, 300) // vocab 300: out
	m := data.Manifest{Format: data.ManifestFormat, Tokenizer: "custom", Vocab: 300, EOT: -1, Dtype: data.DtypeUint16,
		PageLength: 2, Shards: []data.Shard{{Key: "s.bin", SHA256: sha256.Sum256(shard), Tokens: 2}}}
	raw, err := m.Marshal()
	require.NoError(t, err)
	require.NoError(t, store.Put(ctx, "s.bin", bytes.NewReader(shard), int64(len(shard))))
	require.NoError(t, store.Put(ctx, "m.json", bytes.NewReader(raw), int64(len(raw))))
	ds, err := data.OpenManifest(ctx, store, "m.json", sha256.Sum256(raw), data.ShardOptions{})
	require.NoError(t, err)
	_, err = ds.Page(ctx, 0, nil)
	assert.ErrorIs(t, err, data.ErrManifest)
	assert.ErrorContains(t, err, "token 1 is 300")
}

func TestBuilderErrors(t *testing.T) {
	store := mem.New()
	for _, o := range []data.BuildOptions{
		{PageLength: 4},
		{Tokenizer: tokens.Bytes{}, PageLength: 1},
		{Tokenizer: tokens.Bytes{}, PageLength: 4, ShardPages: -1},
		{Tokenizer: tokens.Bytes{}, PageLength: 4, Folder: "a/"},
	} {
		_, err := data.NewBuilder(store, o)
		assert.Error(t, err, "%+v", o)
	}
	_, err := data.NewBuilder(nil, data.BuildOptions{Tokenizer: tokens.Bytes{}, PageLength: 4})
	assert.Error(t, err)

	ctx := context.Background()
	b, err := data.NewBuilder(store, data.BuildOptions{Tokenizer: tokens.Bytes{}, PageLength: 4})
	require.NoError(t, err)
	_, _, _, err = b.Finish(ctx)
	assert.ErrorIs(t, err, data.ErrManifest, "no documents")

	b, err = data.NewBuilder(store, data.BuildOptions{Tokenizer: tokens.Bytes{}, PageLength: 4, HeldOut: 1})
	require.NoError(t, err)
	require.NoError(t, b.Add(ctx, []byte("abcd")))
	_, _, _, err = b.Finish(ctx)
	assert.ErrorIs(t, err, data.ErrManifest, "one page, held out: no training page")

	gpt2, err := tokens.NewGPT2()
	require.NoError(t, err)
	b, err = data.NewBuilder(store, data.BuildOptions{Tokenizer: gpt2, PageLength: 4})
	require.NoError(t, err)
	assert.ErrorIs(t, b.Add(ctx, []byte("bad \xff utf-8")), tokens.ErrText)
}

// wide is a test tokenizer with a vocabulary too large for uint16: byte c is
// id 1 + 257·c, and 69999 ends documents.
type wide struct{}

func (wide) Name() string { return "wide-test" }
func (wide) Vocab() int   { return 70000 }
func (wide) EOT() int32   { return 69999 }
func (wide) Encode(dst []int32, text []byte) ([]int32, error) {
	for _, c := range text {
		dst = append(dst, 1+257*int32(c))
	}
	return dst, nil
}
func (wide) Decode([]int32) ([]byte, error) { return nil, fmt.Errorf("not needed") }

// vectorFile is testdata/vectors/dataset_tokens.json (at the repository root): datasets small enough to
// spell out, for other implementations of the page rule (SPEC.md §4.2).
type vectorFile struct {
	Comment string   `json:"comment"`
	Cases   []vector `json:"cases"`
}

type vector struct {
	Name        string        `json:"name"`
	Documents   []string      `json:"documents"`
	ManifestKey string        `json:"manifest_key"`
	Manifest    string        `json:"manifest"`
	Digest      bistro.Hash   `json:"manifest_sha256"`
	Shards      []vectorShard `json:"shards"`
	Pages       []vectorPage  `json:"pages"`
	HeldOut     []vectorPage  `json:"held_out"`
}

type vectorShard struct {
	Key string `json:"key"`
	Hex string `json:"hex"`
}

type vectorPage struct {
	ID     uint64  `json:"id"`
	Tokens []int32 `json:"tokens"`
}

const vectorsPath = "../../testdata/vectors/dataset_tokens.json"

func makeVectors(t *testing.T) vectorFile {
	ctx := context.Background()
	gpt2, err := tokens.NewGPT2()
	require.NoError(t, err)
	vf := vectorFile{Comment: "bistro/dataset/tokens/v1: manifest bytes -> SHA-256 (the dataset digest); shard " +
		"bytes (hex) at manifest folder + key; training page id -> tokens; held-out page i -> tokens. Written by " +
		"go test ./train/data -run TestManifestVectors -update."}
	for _, c := range []struct {
		name string
		o    data.BuildOptions
		docs []string
	}{
		{"bytes-uint8", data.BuildOptions{Tokenizer: tokens.Bytes{}, PageLength: 16, HeldOut: 1, ShardPages: 2, Folder: "ds/bytes"},
			[]string{"It is the first document. ", "And a second, longer one, which goes on past a shard boundary."}},
		{"gpt2-uint16", data.BuildOptions{Tokenizer: gpt2, PageLength: 8, HeldOut: 1, ShardPages: 2, Folder: "ds/gpt2"},
			[]string{"Hello world", "Optics: light is refracted, reflected and inflected.", "<|endoftext|> is plain text here.", "Ünïcödé 東京"}},
		{"wide-uint32", data.BuildOptions{Tokenizer: wide{}, PageLength: 3, HeldOut: 2, ShardPages: 2},
			[]string{"abcdefg", "hij"}},
	} {
		store := mem.New()
		key, digest := build(t, store, c.o, c.docs...)
		raw, err := store.Get(ctx, key, 1<<20)
		require.NoError(t, err)
		ds, err := data.OpenManifest(ctx, store, key, digest, data.ShardOptions{})
		require.NoError(t, err)
		v := vector{Name: c.name, Documents: c.docs, ManifestKey: key, Manifest: string(raw), Digest: digest}
		for _, s := range ds.Manifest().Shards {
			k := s.Key
			if c.o.Folder != "" {
				k = c.o.Folder + "/" + k
			}
			b, err := store.Get(ctx, k, 1<<20)
			require.NoError(t, err)
			v.Shards = append(v.Shards, vectorShard{Key: k, Hex: hex.EncodeToString(b)})
		}
		for id := range ds.Pages() {
			p, err := ds.Page(ctx, id, nil)
			require.NoError(t, err)
			v.Pages = append(v.Pages, vectorPage{ID: id, Tokens: p})
		}
		for i := range ds.HeldOutPages() {
			p, err := ds.HeldOutPage(ctx, i, nil)
			require.NoError(t, err)
			v.HeldOut = append(v.HeldOut, vectorPage{ID: i, Tokens: p})
		}
		vf.Cases = append(vf.Cases, v)
	}
	return vf
}

// The vectors file matches what the code writes, and a reader that knows
// only the rule (hash the manifest; per shard, check the hash and cut ⌊n/L⌋
// pages; the last held_out pages are held out) recovers every page from it.
func TestManifestVectors(t *testing.T) {
	golden.JSON(t, vectorsPath, makeVectors(t))
	want, err := os.ReadFile(vectorsPath)
	require.NoError(t, err)

	var file vectorFile
	require.NoError(t, json.Unmarshal(want, &file))
	require.Len(t, file.Cases, 3)
	for _, v := range file.Cases {
		assert.Equal(t, v.Digest, bistro.Hash(sha256.Sum256([]byte(v.Manifest))), v.Name)
		var m struct {
			Dtype      string `json:"dtype"`
			PageLength int    `json:"page_length"`
			HeldOut    int    `json:"held_out"`
			Shards     []struct {
				Key    string `json:"key"`
				SHA256 string `json:"sha256"`
				Tokens int    `json:"tokens"`
			} `json:"shards"`
		}
		require.NoError(t, json.Unmarshal([]byte(v.Manifest), &m))
		w := map[string]int{"uint8": 1, "uint16": 2, "uint32": 4}[m.Dtype]
		folder := strings.TrimSuffix(v.ManifestKey, "manifest.json")
		var pages [][]int32
		for i, s := range m.Shards {
			require.Equal(t, folder+s.Key, v.Shards[i].Key)
			b, err := hex.DecodeString(v.Shards[i].Hex)
			require.NoError(t, err)
			sum := sha256.Sum256(b)
			require.Equal(t, s.SHA256, hex.EncodeToString(sum[:]))
			require.Len(t, b, s.Tokens*w)
			for p := 0; p+m.PageLength <= s.Tokens; p += m.PageLength {
				var page []int32
				for j := p; j < p+m.PageLength; j++ {
					switch w {
					case 1:
						page = append(page, int32(b[j]))
					case 2:
						page = append(page, int32(binary.LittleEndian.Uint16(b[2*j:])))
					default:
						page = append(page, int32(binary.LittleEndian.Uint32(b[4*j:])))
					}
				}
				pages = append(pages, page)
			}
		}
		train := len(pages) - m.HeldOut
		require.Len(t, v.Pages, train, v.Name)
		for i, p := range v.Pages {
			assert.Equal(t, pages[i], p.Tokens, "%s page %d", v.Name, i)
		}
		for i, p := range v.HeldOut {
			assert.Equal(t, pages[train+i], p.Tokens, "%s held-out %d", v.Name, i)
		}
	}
}
