package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bistro-go/bistro"
	_ "github.com/bistro-go/bistro/storage/dir" // file:// for --store
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/tokens"
	"github.com/parquet-go/parquet-go"
)

const manifestSynopsis = "bistro manifest --page-length L [--tokenizer gpt2|bytes] [--held-out H] [--shard-pages N] " +
	"[--text-column NAME] [--folder PREFIX] [--json] (--out DIR | --store URL) SRC"

// runManifest builds a token dataset (shards and manifest) from the .txt and
// .parquet files under SRC, in the byte order of their paths relative to SRC
// (with '/' separators): a .txt file is one document, a .parquet file gives
// one document per non-null value of its text column, rows in file order.
func runManifest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("manifest", manifestSynopsis, stderr)
	tokName := fs.String("tokenizer", tokens.GPT2Name, "tokenizer: gpt2 (GPT-2 BPE, <|endoftext|> after each document) or bytes")
	pageLength := fs.Int("page-length", 0, "tokens per page, L (required; Context+1 makes each page one full sequence of a GPT)")
	heldOut := fs.Uint64("held-out", 0, "pages, the last ones, kept out of training for evaluation")
	shardPages := fs.Int("shard-pages", 0, fmt.Sprintf("pages per shard (0: about %d tokens a shard)", data.DefaultShardTokens))
	column := fs.String("text-column", "text", "the column of .parquet files that holds the documents (a string column)")
	folder := fs.String("folder", "", "key prefix of shards and manifest in the storage (\"\" for its root)")
	out := fs.String("out", "", "write shards and manifest.json into this directory")
	store := fs.String("store", "", "write them to this storage URL instead (file:///abs/path, or any registered driver)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bistro manifest: %s\n", fmt.Sprintf(format, a...))
		fs.Usage()
		return exitUsage
	}
	switch {
	case *pageLength < 2:
		return usage("--page-length %d: want at least 2", *pageLength)
	case (*out == "") == (*store == ""):
		return usage("give exactly one of --out and --store")
	}
	tok, err := tokens.ByName(*tokName)
	if err != nil {
		return usage("%v", err)
	}
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bistro manifest: %s\n", oneLine(err))
		return exitFail
	}
	var st bistro.Storage
	if *out != "" {
		abs, err := filepath.Abs(*out)
		if err != nil {
			return fail(err)
		}
		*store = "file://" + filepath.ToSlash(abs)
	}
	if st, err = bistro.Open(ctx, *store); err != nil {
		return fail(err)
	}
	files, err := sourceFiles(pos[0])
	if err != nil {
		return fail(err)
	}
	if len(files) == 0 {
		return fail(fmt.Errorf("%s: no .txt or .parquet file", pos[0]))
	}
	b, err := data.NewBuilder(st, data.BuildOptions{Tokenizer: tok, PageLength: *pageLength, HeldOut: *heldOut,
		ShardPages: *shardPages, Folder: *folder})
	if err != nil {
		return fail(err)
	}
	for _, f := range files {
		if err := addFile(ctx, b, f, *column); err != nil {
			return fail(fmt.Errorf("%s: %w", f.path, err))
		}
	}
	m, key, digest, err := b.Finish(ctx)
	if err != nil {
		return fail(err)
	}
	var total uint64
	for _, s := range m.Shards {
		total += s.Tokens
	}
	pages := m.Pages()
	res := manifestResult{Store: *store, Manifest: key, Digest: digest, Tokenizer: m.Tokenizer, Vocab: m.Vocab,
		Dtype: m.Dtype, PageLength: m.PageLength, Files: len(files), Documents: b.Documents(), Tokens: total,
		Shards: len(m.Shards), TrainingPages: pages - m.HeldOut, HeldOutPages: m.HeldOut}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "manifest        %s (in %s)\n", res.Manifest, res.Store)
	fmt.Fprintf(stdout, "dataset_digest  %s\n", res.Digest)
	fmt.Fprintf(stdout, "tokenizer       %s (vocab %d, %s shards)\n", res.Tokenizer, res.Vocab, res.Dtype)
	fmt.Fprintf(stdout, "input           %d files, %d documents, %d tokens in %d shards\n", res.Files, res.Documents, res.Tokens, res.Shards)
	fmt.Fprintf(stdout, "pages           %d training (dataset_pages) + %d held out, %d tokens each (page_length)\n",
		res.TrainingPages, res.HeldOutPages, res.PageLength)
	return exitOK
}

// manifestResult is what `bistro manifest` reports; the digest, page length
// and training pages are the Params fields dataset_digest, page_length and
// dataset_pages.
type manifestResult struct {
	Store         string      `json:"store"`
	Manifest      string      `json:"manifest"`
	Digest        bistro.Hash `json:"dataset_digest"`
	Tokenizer     string      `json:"tokenizer"`
	Vocab         uint32      `json:"vocab"`
	Dtype         string      `json:"dtype"`
	PageLength    uint32      `json:"page_length"`
	Files         int         `json:"files"`
	Documents     uint64      `json:"documents"`
	Tokens        uint64      `json:"tokens"`
	Shards        int         `json:"shards"`
	TrainingPages uint64      `json:"dataset_pages"`
	HeldOutPages  uint64      `json:"held_out_pages"`
}

type sourceFile struct {
	path, rel string
	parquet   bool
}

// sourceFiles lists the .txt and .parquet files under src (src itself when
// it is a file), sorted by their slash path relative to src.
func sourceFiles(src string) ([]sourceFile, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	kind := func(name string) (ok, pq bool) {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".txt":
			return true, false
		case ".parquet":
			return true, true
		}
		return false, false
	}
	if !fi.IsDir() {
		ok, pq := kind(src)
		if !ok {
			return nil, fmt.Errorf("%s: not a .txt or .parquet file", src)
		}
		return []sourceFile{{path: src, rel: filepath.Base(src), parquet: pq}}, nil
	}
	var files []sourceFile
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if ok, pq := kind(p); ok {
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			files = append(files, sourceFile{path: p, rel: filepath.ToSlash(rel), parquet: pq})
		}
		return nil
	})
	slices.SortFunc(files, func(a, b sourceFile) int { return strings.Compare(a.rel, b.rel) })
	return files, err
}

func addFile(ctx context.Context, b *data.Builder, f sourceFile, column string) error {
	if !f.parquet {
		text, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		return b.Add(ctx, text)
	}
	return parquetDocuments(f.path, column, func(doc []byte) error { return b.Add(ctx, doc) })
}

// parquetDocuments calls add with each non-null value of the top-level
// string column of the parquet file at path, rows in file order.
func parquetDocuments(path, column string, add func([]byte) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(file, fi.Size())
	if err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	col := pf.Root().Column(column)
	if col == nil || !col.Leaf() {
		var have []string
		for _, c := range pf.Root().Columns() {
			have = append(have, c.Name())
		}
		return fmt.Errorf("parquet: no column %q (columns: %s; see --text-column)", column, strings.Join(have, ", "))
	}
	if col.Repeated() || col.Type().Kind() != parquet.ByteArray {
		return fmt.Errorf("parquet: column %q is not a plain string column", column)
	}
	pages := col.Pages()
	defer pages.Close()
	vals := make([]parquet.Value, 64)
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("parquet: %w", err)
		}
		r := page.Values()
		for {
			n, err := r.ReadValues(vals)
			for _, v := range vals[:n] {
				if v.IsNull() {
					continue
				}
				if err := add(v.ByteArray()); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("parquet: %w", err)
			}
		}
	}
}
