package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/storage/s3/s3test"
)

// makeRelease writes a release into a new folder: a genesis of args and, with
// a dataset, a bytes token dataset under dataset/ that the Params pin.
func makeRelease(t *testing.T, withDataset bool, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if withDataset {
		src := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), bytes.Repeat([]byte("of the colours of light. "), 400), 0o644))
		require.Equal(t, exitOK, run([]string{"manifest", "--tokenizer", "bytes", "--page-length", "129", "--shard-pages", "40",
			"--out", filepath.Join(dir, "dataset"), src}, &out, &errb), errb.String())
		args = append(args, "--dataset", filepath.Join(dir, "dataset", "manifest.json"))
	}
	require.Equal(t, exitOK, run(append([]string{"genesis", "--out", dir}, args...), &out, &errb), errb.String())
	return dir
}

// releaseKeys are the keys a release with a two-shard dataset has under prefix.
func releaseKeys(prefix string) []string {
	return []string{prefix + "/dataset/manifest.json", prefix + "/dataset/shard-000000.bin", prefix + "/dataset/shard-000001.bin",
		prefix + "/genesis.safetensors", prefix + "/params.json"}
}

// assertPublished checks that st holds the release in dir under prefix,
// byte for byte.
func assertPublished(t *testing.T, st bistro.Storage, dir, prefix string, keys []string) {
	t.Helper()
	objs, err := st.List(t.Context(), prefix+"/")
	require.NoError(t, err)
	var got []string
	for _, o := range objs {
		got = append(got, o.Key)
	}
	assert.Equal(t, keys, got)
	for _, k := range keys {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(k, prefix+"/"))))
		require.NoError(t, err)
		b, err := st.Get(t.Context(), k, int64(len(want)))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, b), k)
	}
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestPublishFile(t *testing.T) {
	dir := makeRelease(t, true)
	dest := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"publish", "--to", "file://" + filepath.ToSlash(dest), dir}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	st, err := bistro.Open(t.Context(), "file://"+filepath.ToSlash(dest))
	require.NoError(t, err)
	assertPublished(t, st, dir, DefaultReleasePrefix, releaseKeys(DefaultReleasePrefix))
	assert.Equal(t, "participants pass --params file://"+filepath.ToSlash(dest)+"/bistro/release/params.json", lastLine(out.String()))

	// Without a dataset: the genesis and the params, and a note.
	dir = makeRelease(t, false)
	out.Reset()
	require.Equal(t, exitOK, run([]string{"publish", "--prefix", "subnet/7", "--to", "file://" + filepath.ToSlash(dest), dir}, &out, &errb), errb.String())
	assertPublished(t, st, dir, "subnet/7", []string{"subnet/7/genesis.safetensors", "subnet/7/params.json"})
	assert.Contains(t, out.String(), "note: no dataset/ folder")
}

// TestPublishOrder uploads to a mem:// store and sees params.json go last,
// and the manifest after its shards.
func TestPublishOrder(t *testing.T) {
	dir := makeRelease(t, true)
	var mu sync.Mutex
	var order []string
	mem.Named("publish-order").SetFaults(mem.Faults{Put: func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, key)
		return nil
	}})
	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run([]string{"publish", "--to", "mem://publish-order/rel/v1", dir}, &out, &errb), errb.String())
	assert.Equal(t, []string{"rel/v1/genesis.safetensors", "rel/v1/dataset/shard-000000.bin", "rel/v1/dataset/shard-000001.bin",
		"rel/v1/dataset/manifest.json", "rel/v1/params.json"}, order)
	assert.Equal(t, "participants pass --params mem://publish-order/rel/v1/params.json", lastLine(out.String()))
	assertPublished(t, mem.Named("publish-order"), dir, "rel/v1", releaseKeys("rel/v1"))
}

// TestPublishRefuses checks bad releases: one line on stderr, exit 1, and
// nothing uploaded.
func TestPublishRefuses(t *testing.T) {
	other := makeRelease(t, false, "--seed", "another")
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		want  string
	}{
		{"missing genesis", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "genesis.safetensors")))
		}, "genesis.safetensors"},
		{"another genesis", func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(other, "genesis.safetensors"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "genesis.safetensors"), b, 0o644))
		}, "genesis.safetensors"},
		{"dataset digest", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "dataset", "manifest.json"), os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString(" ")
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, "dataset digest mismatch"},
		{"missing dataset manifest", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "dataset", "manifest.json")))
		}, "manifest.json"},
		{"corrupt shard", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "dataset", "shard-000001.bin")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[0] ^= 1
			require.NoError(t, os.WriteFile(p, b, 0o644))
		}, "shard"},
		{"bad params", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "params.json"), []byte(`{"protocol": 1}`), 0o644))
		}, "invalid params"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeRelease(t, true)
			tc.spoil(t, dir)
			name := "refuse-" + strings.ReplaceAll(tc.name, " ", "-")
			var out, errb bytes.Buffer
			code := run([]string{"publish", "--to", "mem://" + name, dir}, &out, &errb)
			assert.Equal(t, exitFail, code)
			assert.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
			assert.Contains(t, errb.String(), tc.want)
			objs, err := mem.Named(name).List(t.Context(), "")
			require.NoError(t, err)
			assert.Empty(t, objs, "nothing is uploaded")
		})
	}
	var out, errb bytes.Buffer
	dir := makeRelease(t, false)
	for _, args := range [][]string{
		{dir}, {"--to", "mem://x/a/b", "--prefix", "c", dir}, {"--to", "mem://x/a/../b", dir},
		{"--to", "mem://x/a b", dir}, {"--to", "nothing", dir},
	} {
		assert.Equal(t, exitUsage, run(append([]string{"publish"}, args...), &out, &errb), args)
	}
}

// TestPublishS3 publishes a gpt2 tiny release (a 13 MB genesis, sent in
// 5 MiB parts) to a real S3 server and reads it back the way a participant's
// loader does, from the printed --params URL.
func TestPublishS3(t *testing.T) {
	srv, err := s3test.Start(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	bucket := s3test.UniqueBucket("publish")
	_, err = srv.NewBucket(t.Context(), bucket)
	require.NoError(t, err)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	dir := makeRelease(t, true, "--arch", "gpt2")
	query := "endpoint=" + url.QueryEscape(srv.Endpoint) + "&region=" + srv.Region + "&path_style=1&part_size=5MiB"
	var out, errb bytes.Buffer
	code := run([]string{"publish", "--to", "s3://" + bucket + "/releases/one?" + query, dir}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	paramsURL := strings.TrimPrefix(lastLine(out.String()), "participants pass --params ")
	assert.Equal(t, "s3://"+bucket+"/releases/one/params.json?"+query, paramsURL)
	assert.NotContains(t, out.String()+errb.String(), srv.SecretKey)

	// A loader: the bucket from the URL without its path, the key from its path.
	u, err := url.Parse(paramsURL)
	require.NoError(t, err)
	key := strings.TrimPrefix(u.Path, "/")
	u.Path = ""
	st, err := bistro.Open(t.Context(), u.String())
	require.NoError(t, err)
	b, err := st.Get(t.Context(), key, bistro.MaxParamsBytes)
	require.NoError(t, err)
	p, err := bistro.ReadParams(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, "gpt2/v1", p.Model.Arch)
	assertPublished(t, st, dir, "releases/one", releaseKeys("releases/one"))
}
