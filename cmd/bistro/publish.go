package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bistro-go/bistro"
	_ "github.com/bistro-go/bistro/storage/dir" // file://
	_ "github.com/bistro-go/bistro/storage/s3"  // s3://
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

const publishSynopsis = "bistro publish --to URL [--prefix P] [--max-bytes N] DIR"

// DefaultReleasePrefix is where a release goes in its bucket when the URL
// names no path.
const DefaultReleasePrefix = "bistro/release"

// Release keys, relative to the prefix: loaders read exactly these.
const (
	releaseParams   = "params.json"
	releaseGenesis  = "genesis.safetensors"
	releaseDataset  = datasetFolder     // + "/" + manifest.json and the shards
	releaseManifest = data.ManifestName // within releaseDataset
)

var errDatasetMismatch = errors.New("dataset digest mismatch")

// runPublish uploads a subnet release — what bistro genesis --out wrote, and
// an optional dataset/ folder from bistro manifest --out — to a bucket,
// after checking that its parts agree, params.json last.
func runPublish(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("publish", publishSynopsis, stderr)
	to := fs.String("to", "", "where: s3://bucket[/prefix]?endpoint=…&path_style=1, file:///folder, or any registered driver's URL (required)")
	prefixFlag := fs.String("prefix", "", "key prefix of the release when the URL has no path (default "+DefaultReleasePrefix+")")
	maxBytes := fs.Int64("max-bytes", defaultMaxBytes, "refuse a genesis larger than this many `bytes`")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bistro publish: %s\n", fmt.Sprintf(format, a...))
		fs.Usage()
		return exitUsage
	}
	if *to == "" {
		return usageErr("--to is required")
	}
	if *maxBytes <= 0 {
		return usageErr("--max-bytes %d out of range", *maxBytes)
	}
	dest, err := parseRelease(*to, *prefixFlag)
	if err != nil {
		return usageErr("%v", err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bistro publish: FAIL: %s\n", oneLine(err))
		return exitFail
	}
	dir := pos[0]
	files, note, err := checkRelease(context.Background(), dir, *maxBytes)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	st, err := bistro.Open(ctx, dest.store)
	if err != nil {
		return fail(err)
	}
	for _, f := range files {
		key := dest.prefix + "/" + f.key
		n, err := upload(ctx, st, key, filepath.Join(dir, filepath.FromSlash(f.key)))
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "uploaded %s (%d bytes)\n", key, n)
	}
	if note != "" {
		fmt.Fprintln(stdout, note)
	}
	fmt.Fprintf(stdout, "participants pass --params %s\n", dest.paramsURL())
	return exitOK
}

// release is where a release goes: a storage URL without a path, and the
// key prefix.
type release struct {
	u      *url.URL // as given
	store  string   // the URL bistro.Open gets
	prefix string   // no leading or trailing '/'
}

// parseRelease splits a destination URL. For file:// the path is the folder
// and the prefix comes from --prefix; for every other scheme the host names
// the bucket and the path, if any, is the prefix.
func parseRelease(raw, prefixFlag string) (release, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return release{}, fmt.Errorf("--to: %w", err)
	}
	if u.Scheme == "" || u.Opaque != "" || u.Fragment != "" {
		return release{}, fmt.Errorf("--to %q: want scheme://bucket[/prefix][?query]", u.Redacted())
	}
	r := release{u: u}
	store := *u
	urlPrefix := strings.Trim(u.Path, "/")
	if u.Scheme == "file" {
		urlPrefix = ""
	} else {
		store.Path, store.RawPath = "", ""
	}
	switch {
	case urlPrefix != "" && prefixFlag != "":
		return release{}, fmt.Errorf("--to names prefix %q and --prefix %q: give one", urlPrefix, prefixFlag)
	case urlPrefix != "":
		r.prefix = urlPrefix
	case prefixFlag != "":
		r.prefix = strings.Trim(prefixFlag, "/")
	default:
		r.prefix = DefaultReleasePrefix
	}
	if err := bistro.ValidKey(r.prefix + "/" + releaseParams); err != nil {
		return release{}, fmt.Errorf("prefix %q: %w", r.prefix, err)
	}
	r.store = store.String()
	return r, nil
}

// paramsURL is the URL of the published params.json, with the
// destination's query: what participants pass as --params.
func (r release) paramsURL() string {
	v := *r.u
	v.RawPath = ""
	if r.u.Scheme == "file" {
		v.Path = path.Join(r.u.Path, r.prefix, releaseParams)
	} else {
		v.Path = "/" + r.prefix + "/" + releaseParams
	}
	return v.Redacted()
}

// releaseFile is one file of a release, by its key relative to the prefix
// (also its path relative to the release folder).
type releaseFile struct{ key string }

// checkRelease checks the release in dir before anything is uploaded:
// params.json loads and validates; genesis.safetensors decodes as the
// signed checkpoint of the first window whose θ hashes to genesis_digest;
// dataset/manifest.json, when dataset/ exists, hashes to dataset_digest and
// its shards are present, whole and agree with the params. It returns the
// files in upload order, params.json last, and a note for the operator.
func checkRelease(ctx context.Context, dir string, maxBytes int64) ([]releaseFile, string, error) {
	paramsPath := filepath.Join(dir, releaseParams)
	p, err := bistro.LoadParams(paramsPath)
	if err != nil {
		return nil, "", err
	}
	genesisPath := filepath.Join(dir, releaseGenesis)
	if err := checkGenesis(&p, genesisPath, maxBytes); err != nil {
		return nil, "", fmt.Errorf("%s: %w", genesisPath, err)
	}
	files := []releaseFile{{releaseGenesis}}
	note := ""
	dsDir := filepath.Join(dir, releaseDataset)
	if fi, err := os.Stat(dsDir); err == nil && fi.IsDir() {
		shards, err := checkDataset(ctx, &p, dsDir)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", dsDir, err)
		}
		for _, k := range shards {
			files = append(files, releaseFile{releaseDataset + "/" + k})
		}
		files = append(files, releaseFile{releaseDataset + "/" + releaseManifest})
	} else {
		note = fmt.Sprintf("note: no %s/ folder: participants get the dataset pinned by %s elsewhere "+
			"(the offline Opticks text needs nothing)", releaseDataset, p.DatasetDigest)
	}
	return append(files, releaseFile{releaseParams}), note, nil
}

// checkGenesis decodes the genesis checkpoint against p.
func checkGenesis(p *bistro.Params, file string, maxBytes int64) error {
	layout, err := modelLayout(p.Model)
	if err != nil {
		return err
	}
	b, err := readCapped(file, maxBytes)
	if err != nil {
		return err
	}
	f, err := bistro.Decode(b, &bistro.Expect{Kind: bistro.KindCheckpoint, Params: p, Window: p.FirstWindow, Layout: layout})
	if err != nil {
		return err
	}
	theta, err := thetaOf(layout, f.Tensors)
	if err != nil {
		return err
	}
	switch {
	case theta != f.Theta:
		return fmt.Errorf("%w: the tensors hash to %s, the file says %s", errThetaMismatch, theta, f.Theta)
	case theta != p.GenesisDigest:
		return fmt.Errorf("%w: θ hash %s, params.json says genesis_digest %s", errGenesisMismatch, theta, p.GenesisDigest)
	}
	return nil
}

// modelLayout is the layout of a model config of a known architecture.
func modelLayout(cfg bistro.ModelConfig) (bistro.Layout, error) {
	switch cfg.Arch {
	case train.MLPArch:
		return train.MLPLayout(cfg)
	case train.GPTArch:
		return train.GPTLayout(cfg)
	}
	return nil, fmt.Errorf("%w: model.arch %q unknown (want %s or %s)", bistro.ErrInvalidParams, cfg.Arch, train.MLPArch, train.GPTArch)
}

// checkDataset checks a dataset folder against p and returns its shards'
// keys, relative to the folder.
func checkDataset(ctx context.Context, p *bistro.Params, folder string) ([]string, error) {
	m, digest, err := readManifest(filepath.Join(folder, releaseManifest))
	if err != nil {
		return nil, err
	}
	if digest != p.DatasetDigest {
		return nil, fmt.Errorf("%w: %s hashes to %s, params.json says dataset_digest %s",
			errDatasetMismatch, releaseManifest, digest, p.DatasetDigest)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(mustAbs(folder))}
	ds, err := data.OpenManifestURL(ctx, u.String(), releaseManifest, digest, data.ShardOptions{})
	if err != nil {
		return nil, err
	}
	if err := ds.Verify(ctx); err != nil {
		return nil, err
	}
	switch {
	case m.PageLength != p.PageLength:
		return nil, fmt.Errorf("%w: page_length %d, params.json says %d", errDatasetMismatch, m.PageLength, p.PageLength)
	case ds.Pages() != p.DatasetPages:
		return nil, fmt.Errorf("%w: %d training pages, params.json says dataset_pages %d", errDatasetMismatch, ds.Pages(), p.DatasetPages)
	case m.Vocab > p.Model.Vocab:
		return nil, fmt.Errorf("%w: vocabulary %d exceeds the model's %d", errDatasetMismatch, m.Vocab, p.Model.Vocab)
	}
	keys := make([]string, len(m.Shards))
	for i, s := range m.Shards {
		keys[i] = s.Key
	}
	return keys, nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// upload puts one file under key and returns its size.
func upload(ctx context.Context, st bistro.Storage, key, file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := st.Put(ctx, key, f, fi.Size()); err != nil {
		return 0, fmt.Errorf("upload %s: %w", key, err)
	}
	return fi.Size(), nil
}
