package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/tokens"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type textRow struct {
	ID   int64   `parquet:"id"`
	Text *string `parquet:"text,optional"`
}

func ptr(s string) *string { return &s }

// A folder of .txt and .parquet files becomes a dataset whose pages are the
// documents' tokens in path order, each followed by <|endoftext|>.
func TestManifestCommand(t *testing.T) {
	src := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(src, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	write("b.txt", "Second document.")
	write("a/z.txt", "Hello world")
	write("notes.md", "ignored")
	rows := []textRow{{1, ptr("Row one of the table.")}, {2, nil}, {3, ptr("Row three.")}}
	require.NoError(t, parquet.WriteFile(filepath.Join(src, "c.parquet"), rows))

	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"manifest", "--page-length", "4", "--held-out", "1", "--shard-pages", "3", "--json",
		"--out", out, src}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	var res manifestResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	assert.Equal(t, "manifest.json", res.Manifest)
	assert.Equal(t, 3, res.Files)
	assert.Equal(t, uint64(4), res.Documents, "two texts and two non-null rows")
	assert.Equal(t, "gpt2", res.Tokenizer)
	assert.Equal(t, "uint16", res.Dtype)

	// The stream: a/z.txt, b.txt, then the rows of c.parquet.
	gpt2, err := tokens.NewGPT2()
	require.NoError(t, err)
	var want []int32
	for _, doc := range []string{"Hello world", "Second document.", "Row one of the table.", "Row three."} {
		want, err = gpt2.Encode(want, []byte(doc))
		require.NoError(t, err)
		want = append(want, tokens.GPT2EOT)
	}
	assert.Equal(t, uint64(len(want)), res.Tokens)
	st, err := dir.New(out)
	require.NoError(t, err)
	ds, err := data.OpenManifest(context.Background(), st, res.Manifest, res.Digest, data.ShardOptions{})
	require.NoError(t, err)
	require.NoError(t, ds.Verify(context.Background()))
	assert.Equal(t, res.TrainingPages, ds.Pages())
	var got []int32
	for id := range ds.Pages() {
		p, err := ds.Page(context.Background(), id, nil)
		require.NoError(t, err)
		got = append(got, p...)
	}
	// Shards of 12 tokens each give 3 pages; no token of a full shard is lost.
	assert.Equal(t, want[:len(got)], got)

	// The same input gives the same digest; the text form names it too.
	stdout.Reset()
	code = run([]string{"manifest", "--page-length", "4", "--held-out", "1", "--shard-pages", "3", "--store",
		"file://" + filepath.ToSlash(t.TempDir()), src}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Contains(t, stdout.String(), "dataset_digest  "+res.Digest.String())

	// Byte-level: the file's bytes, no separator.
	stdout.Reset()
	code = run([]string{"manifest", "--tokenizer", "bytes", "--page-length", "5", "--json", "--out", t.TempDir(),
		filepath.Join(src, "a", "z.txt")}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	assert.Equal(t, uint64(11), res.Tokens)
	assert.Equal(t, uint64(2), res.TrainingPages)
	assert.Equal(t, "uint8", res.Dtype)
}

func TestManifestCommandErrors(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("bad \xff"), 0o644))
	pq := filepath.Join(t.TempDir(), "nums.parquet")
	require.NoError(t, parquet.WriteFile(pq, []struct {
		N int64 `parquet:"n"`
	}{{1}}))
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no page length", []string{"--out", t.TempDir(), src}, exitUsage, "--page-length"},
		{"no output", []string{"--page-length", "4", src}, exitUsage, "exactly one of --out and --store"},
		{"both outputs", []string{"--page-length", "4", "--out", "x", "--store", "mem://x", src}, exitUsage, "exactly one"},
		{"tokenizer", []string{"--page-length", "4", "--tokenizer", "cl100k", "--out", t.TempDir(), src}, exitUsage, "unknown tokenizer"},
		{"no source", []string{"--page-length", "4", "--out", t.TempDir(), filepath.Join(src, "missing")}, exitFail, "no such file"},
		{"invalid utf-8", []string{"--page-length", "4", "--out", t.TempDir(), src}, exitFail, "a.txt"},
		{"parquet column", []string{"--page-length", "4", "--out", t.TempDir(), pq}, exitFail, `no column "text" (columns: n`},
		{"parquet not text", []string{"--page-length", "4", "--text-column", "n", "--out", t.TempDir(), pq}, exitFail, "not a plain string column"},
		{"store scheme", []string{"--page-length", "4", "--store", "nosuch://x", src}, exitFail, "forgotten import"},
		{"empty folder", []string{"--page-length", "4", "--out", t.TempDir(), t.TempDir()}, exitFail, "no .txt or .parquet file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"manifest"}, c.args...), &stdout, &stderr)
		assert.Equal(t, c.code, code, c.name)
		assert.Contains(t, stderr.String(), c.msg, c.name)
		assert.False(t, strings.Contains(stdout.String(), "dataset_digest"), c.name)
	}
}
