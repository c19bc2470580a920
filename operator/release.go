package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/scoring"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/train/data"
)

// A subnet release is what the owner publishes so that participants pass one
// --params location (`bistro genesis` writes it, `bistro publish` uploads it):
//
//	<prefix>/params.json              the Params (bistro.WriteParams)
//	<prefix>/genesis.safetensors      θ₀, a signed checkpoint; θ hash = Params.GenesisDigest
//	<prefix>/dataset/manifest.json    the dataset's manifest and shards, unless the
//	                                  Params pin the offline Opticks corpus
const (
	ReleaseParams   = "params.json"
	ReleaseGenesis  = "genesis.safetensors"
	ReleaseManifest = "dataset/manifest.json"
)

// maxParamsBytes bounds a params.json.
const maxParamsBytes = 1 << 20

// Release is a loaded subnet release.
type Release struct {
	// Params are the subnet's, validated; Raw their bytes as published.
	Params *bistro.Params
	Raw    []byte
	// Where says where it was read from (for logs; no secrets).
	Where string
	// open opens the dataset pinned by Params; genesis reads the genesis
	// checkpoint's bytes, at most max.
	open    func(ctx context.Context) (bistro.Dataset, error)
	genesis func(ctx context.Context, max int64) ([]byte, error)
}

// Genesis reads θ₀ from the release into a new model of tr's architecture:
// a checkpoint of the Params' first window whose θ hash is
// Params.GenesisDigest.
func (r *Release) Genesis(ctx context.Context, tr bistro.Trainer) (bistro.Model, error) {
	p := r.Params
	m, err := tr.NewModel(p.Model)
	if err != nil {
		return nil, err
	}
	e := &bistro.Expect{Kind: bistro.KindCheckpoint, Params: p, Window: p.FirstWindow, Layout: m.Layout()}
	b, err := r.genesis(ctx, e.MaxFileBytes())
	if err != nil {
		return nil, fmt.Errorf("the genesis beside --params: %w", err)
	}
	f, err := bistro.Decode(b, e)
	if err != nil {
		return nil, fmt.Errorf("the genesis beside --params: %w", err)
	}
	for t, v := range f.Tensors {
		if err := m.Write(t, v); err != nil {
			return nil, err
		}
	}
	theta, err := bistro.ThetaHash(m)
	if err != nil {
		return nil, err
	}
	if theta != p.GenesisDigest {
		return nil, fmt.Errorf("the genesis beside --params has θ hash %s, the Params pin %s", theta, p.GenesisDigest)
	}
	return m, nil
}

// OpenDataset opens the dataset the Params pin: the release's manifest when
// it has one, else the offline Opticks corpus. Its digest is checked.
func (r *Release) OpenDataset(ctx context.Context) (bistro.Dataset, error) { return r.open(ctx) }

// LoadRelease reads the release whose params.json loc names: a local file,
// an s3://bucket/key/params.json?endpoint=… URL (credentials from the
// environment, as for --bucket) or an https:// URL.
func LoadRelease(ctx context.Context, loc string) (*Release, error) {
	switch {
	case strings.HasPrefix(loc, "s3://"):
		return loadS3Release(ctx, loc)
	case strings.HasPrefix(loc, "https://"), strings.HasPrefix(loc, "http://"):
		return loadHTTPRelease(ctx, loc)
	case strings.Contains(loc, "://"):
		return nil, fmt.Errorf("--params %q: want a file, an s3:// or an https:// URL", redact(loc))
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return nil, err
	}
	st, err := dir.New(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("--params: %w", err)
	}
	return loadFromStore(ctx, st, filepath.Base(abs), abs)
}

func loadS3Release(ctx context.Context, loc string) (*Release, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("--params: %w", err)
	}
	key := strings.TrimPrefix(u.Path, "/")
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("--params %q: want s3://bucket/path/params.json?endpoint=…", u.Redacted())
	}
	store := *u
	store.Path, store.RawPath = "", ""
	st, err := bistro.Open(ctx, store.String())
	if err != nil {
		return nil, fmt.Errorf("--params: %w", err)
	}
	return loadFromStore(ctx, st, key, u.Redacted())
}

// loadFromStore reads params.json at key in st, the genesis beside it, and
// prepares the dataset.
func loadFromStore(ctx context.Context, st bistro.Storage, key, where string) (*Release, error) {
	raw, err := st.Get(ctx, key, maxParamsBytes)
	if err != nil {
		return nil, fmt.Errorf("--params %s: %w", where, err)
	}
	p, err := bistro.ReadParams(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("--params %s: %w", where, err)
	}
	dir := path.Dir(key)
	sibling := func(name string) string {
		if dir == "." {
			return name
		}
		return dir + "/" + name
	}
	r := &Release{Params: &p, Raw: raw, Where: where}
	r.genesis = func(ctx context.Context, max int64) ([]byte, error) { return st.Get(ctx, sibling(ReleaseGenesis), max) }
	manifest := sibling(ReleaseManifest)
	r.open = func(ctx context.Context) (bistro.Dataset, error) {
		_, err := st.Stat(ctx, manifest)
		switch {
		case err == nil:
			ds, err := data.OpenManifest(ctx, st, manifest, p.DatasetDigest, data.ShardOptions{})
			if err != nil {
				return nil, err
			}
			return ds, scoring.CheckDataset(&p, ds)
		case errors.Is(err, bistro.ErrNotFound):
			return openOptics(ctx, &p)
		default:
			return nil, fmt.Errorf("the dataset manifest beside --params: %w", err)
		}
	}
	return r, nil
}

func loadHTTPRelease(ctx context.Context, loc string) (*Release, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("--params: %w", err)
	}
	get := func(ref string, max int64) ([]byte, error) {
		v, err := u.Parse(ref)
		if err != nil {
			return nil, err
		}
		return httpGet(ctx, v.String(), max)
	}
	raw, err := get(path.Base(u.Path), maxParamsBytes)
	if err != nil {
		return nil, fmt.Errorf("--params %s: %w", u.Redacted(), err)
	}
	p, err := bistro.ReadParams(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("--params %s: %w", u.Redacted(), err)
	}
	r := &Release{Params: &p, Raw: raw, Where: u.Redacted()}
	r.genesis = func(ctx context.Context, max int64) ([]byte, error) { return get(ReleaseGenesis, max) }
	r.open = func(ctx context.Context) (bistro.Dataset, error) {
		ds, err := openOptics(ctx, &p)
		if err != nil {
			return nil, fmt.Errorf("%w (a release served over https carries no dataset here: publish it to S3 with bistro publish)", err)
		}
		return ds, nil
	}
	return r, nil
}

func httpGet(ctx context.Context, u string, max int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", bistro.ErrNotFound, redact(u))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", redact(u), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is over %d bytes", bistro.ErrTooLarge, redact(u), max)
	}
	return b, nil
}

// openOptics opens the offline Opticks corpus as the Params cut it, when it
// is the dataset they pin.
func openOptics(ctx context.Context, p *bistro.Params) (bistro.Dataset, error) {
	ds, err := scoring.OpenDataset(ctx, p, "optics", "")
	if err != nil {
		return nil, fmt.Errorf("the Params pin dataset %s, which is not beside --params nor the offline corpus: %w", p.DatasetDigest, err)
	}
	return ds, nil
}

// redact drops a URL's user part and query (where keys could hide).
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
