package operator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/subtensor/wallet"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// makeRelease writes params.json and genesis.safetensors (a small mlp/v1 on
// the offline corpus) into dir and returns the Params.
func makeRelease(t *testing.T, dir string) *bistro.Params {
	t.Helper()
	cfg, err := train.NewMLPConfig(256, 4, 8, 16)
	require.NoError(t, err)
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 128, HeldOut: 8})
	require.NoError(t, err)
	theta0, err := train.InitMLP(cfg, sha256.Sum256([]byte("operator test")))
	require.NoError(t, err)
	digest, err := bistro.ThetaHash(theta0)
	require.NoError(t, err)
	p := bistro.DefaultParams(7)
	p.Model, p.GenesisDigest = cfg, digest
	p.PageLength, p.DatasetPages, p.DatasetDigest = 128, ds.Pages(), ds.Digest()
	var pj bytes.Buffer
	require.NoError(t, bistro.WriteParams(&pj, &p))
	layout := theta0.Layout()
	f := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: p.FirstWindow, Params: p.Digest(),
		Base: digest, Theta: digest, Tensors: make([][]float32, len(layout))}
	for i := range layout {
		f.Tensors[i] = theta0.Tensor(i)
	}
	owner, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)
	ck, err := bistro.Encode(f, layout, owner)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ReleaseParams), pj.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ReleaseGenesis), ck, 0o644))
	return &p
}

func makeWallet(t *testing.T, root, name string) bistro.Hotkey {
	t.Helper()
	k, err := wallet.KeyfileFromSeed(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	w := wallet.New(root, name)
	require.NoError(t, w.WriteHotkey("default", k, wallet.WriteOptions{}))
	hk, err := w.HotkeyPub("default")
	require.NoError(t, err)
	return hk
}

func runMain(t *testing.T, role Role, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := mainWith(role, args, &out, func(ctx context.Context, n *Node) error {
		t.Fatal("Setup should have refused this configuration")
		return nil
	})
	return code, out.String()
}

func TestHelpShowsOperatorFlags(t *testing.T) {
	for _, role := range []Role{Miner, Validator} {
		code, out := runMain(t, role, "-h")
		assert.Equal(t, 0, code)
		for _, f := range []string{"wallet.name", "wallet.hotkey", "wallet.path", "subtensor.network", "subtensor.chain_endpoint",
			"netuid", "bucket", "params", "device", "state", "metrics.addr", "logging.debug", "logging.trace", "logging.format"} {
			assert.Regexp(t, `(?m)^  -`+regexp.QuoteMeta(f)+`( |$)`, out, "%s -h lacks --%s", role, f)
		}
		if role == Validator {
			assert.Regexp(t, `(?m)^  -sample `, out)
		}
	}
}

// TestBadConfigurationExits2 starts each wrong configuration and expects
// exit status 2 with one line naming the fault.
func TestBadConfigurationExits2(t *testing.T) {
	dir := t.TempDir()
	makeRelease(t, filepath.Join(dir, "release"))
	makeWallet(t, filepath.Join(dir, "wallets"), "m")
	params := filepath.Join(dir, "release", ReleaseParams)
	base := []string{"--wallet.path", filepath.Join(dir, "wallets"), "--wallet.name", "m", "--netuid", "7",
		"--bucket", "s3://b?endpoint=http://127.0.0.1:1", "--params", params, "--metrics.addr", ""}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	// A dead endpoint: nothing listens on port 1.
	dead := "ws://127.0.0.1:1"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no netuid", []string{"--bucket", "b", "--params", params}, "--netuid is required"},
		{"unknown network", with("--subtensor.network", "mainnet"), `--subtensor.network "mainnet": unknown`},
		{"bad endpoint", with("--subtensor.chain_endpoint", "http://x"), "want ws://host:port"},
		{"cuda", with("--device", "cuda"), "--device cuda: this binary has no GPU trainer"},
		{"log format", with("--logging.format", "xml"), "--logging.format"},
		{"missing wallet", with("--wallet.name", "nobody", "--subtensor.chain_endpoint", dead), "no keyfile at"},
		{"missing params", with("--params", filepath.Join(dir, "nope.json"), "--subtensor.chain_endpoint", dead), "--params"},
		{"wrong netuid", with("--netuid", "8", "--subtensor.chain_endpoint", dead), "--params are for netuid 7, --netuid is 8"},
		{"dead endpoint", with("--subtensor.chain_endpoint", dead), "chain endpoint ws://127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := runMain(t, Miner, c.args...)
			assert.Equal(t, 2, code, out)
			assert.Contains(t, out, c.want)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			assert.Contains(t, lines[len(lines)-1], c.want, "the refusal is the last line")
		})
	}
}

func TestLoadReleaseFromFileAndStore(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	p := makeRelease(t, dir)
	rel, err := LoadRelease(ctx, filepath.Join(dir, ReleaseParams))
	require.NoError(t, err)
	assert.Equal(t, p.Digest(), rel.Params.Digest())
	tr := &train.MLP{}
	m, err := rel.Genesis(ctx, tr)
	require.NoError(t, err)
	theta, err := bistro.ThetaHash(m)
	require.NoError(t, err)
	assert.Equal(t, p.GenesisDigest, theta)
	ds, err := rel.OpenDataset(ctx)
	require.NoError(t, err)
	assert.Equal(t, p.DatasetDigest, ds.Digest())

	// From a store, under a prefix, as `bistro publish` lays it out.
	st := mem.New()
	for _, name := range []string{ReleaseParams, ReleaseGenesis} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, st.Put(ctx, "bistro/release/"+name, bytes.NewReader(b), int64(len(b))))
	}
	rel, err = loadFromStore(ctx, st, "bistro/release/params.json", "mem")
	require.NoError(t, err)
	_, err = rel.Genesis(ctx, tr)
	require.NoError(t, err)

	// A genesis that is not the one the Params pin is refused.
	other := t.TempDir()
	makeRelease(t, other)
	q := *p
	q.GenesisDigest[0] ^= 1
	var pj bytes.Buffer
	require.NoError(t, bistro.WriteParams(&pj, &q))
	require.NoError(t, os.WriteFile(filepath.Join(other, ReleaseParams), pj.Bytes(), 0o644))
	rel, err = LoadRelease(ctx, filepath.Join(other, ReleaseParams))
	require.NoError(t, err)
	_, err = rel.Genesis(ctx, tr)
	require.Error(t, err)

	// No genesis beside the Params.
	require.NoError(t, os.Remove(filepath.Join(other, ReleaseGenesis)))
	rel, err = LoadRelease(ctx, filepath.Join(other, ReleaseParams))
	require.NoError(t, err)
	_, err = rel.Genesis(ctx, tr)
	require.ErrorIs(t, err, bistro.ErrNotFound)

	// A garbage params.json.
	require.NoError(t, os.WriteFile(filepath.Join(other, ReleaseParams), []byte("{nope"), 0o644))
	_, err = LoadRelease(ctx, filepath.Join(other, ReleaseParams))
	require.Error(t, err)
	_, err = LoadRelease(ctx, "ftp://x/params.json")
	require.ErrorContains(t, err, "want a file, an s3:// or an https:// URL")
}

func TestOpenBucketAnnouncesWhatOthersRead(t *testing.T) {
	ctx := t.Context()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "very-secret-write-key")
	t.Setenv("R2_ACCOUNT_ID", "acct123")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("BISTRO_READ_ACCESS_KEY_ID", "")
	t.Setenv("BISTRO_READ_SECRET_ACCESS_KEY", "")
	_, cm, err := OpenBucket(ctx, "my-bucket")
	require.NoError(t, err)
	assert.Equal(t, bistro.Commitment{Endpoint: "https://acct123.r2.cloudflarestorage.com", Bucket: "my-bucket", Region: "auto"}, cm)

	_, cm, err = OpenBucket(ctx, "s3://b2?endpoint=http://127.0.0.1:9000&region=eu-1&path_style=1")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9000", cm.Endpoint)
	assert.Equal(t, "eu-1", cm.Region)

	t.Setenv("BISTRO_READ_ACCESS_KEY_ID", "readid")
	_, _, err = OpenBucket(ctx, "my-bucket")
	require.ErrorContains(t, err, "set both")

	// Keys in the URL are refused without being repeated.
	_, _, err = OpenBucket(ctx, "s3://user:topsecret@b")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
	_, _, err = OpenBucket(ctx, "https://user:topsecret@b/x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
}

func TestObservedStoreAndReadiness(t *testing.T) {
	ctx := t.Context()
	m := NewMetrics(Validator)
	st := observedStore{Storage: mem.New(), m: m, read: "fetch"}
	require.NoError(t, st.Put(ctx, "a/b", strings.NewReader("x"), 1))
	_, err := st.Get(ctx, "a/missing", 10)
	require.ErrorIs(t, err, bistro.ErrNotFound)
	_, err = st.Get(ctx, "a/b", 0)
	require.ErrorIs(t, err, bistro.ErrTooLarge)

	addr, err := m.Serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "nothing seen yet")
	m.head(bistro.Head{Number: 40, Finalized: 38}, 5)
	m.replica(4, bistro.Hash{0xab, 0xcd})
	code, body := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	m.replica(5, bistro.Hash{0xab, 0xce})
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	m.weights([]bistro.UID{1, 3}, []uint16{100, 65535})
	_, body = get("/metrics")
	for _, want := range []string{
		`bistro_storage_errors_total{kind="not_found",op="fetch"} 1`,
		`bistro_storage_errors_total{kind="too_large",op="fetch"} 1`,
		`bistro_storage_seconds_count{op="upload"} 1`,
		"bistro_head_block 40", "bistro_finalized_block 38", "bistro_window 5",
		"bistro_replica_window 5", "bistro_windows_behind 0",
		`bistro_replica_digest_info{prefix="abce0000"} 1`,
		`bistro_weight{uid="3"} 65535`, "bistro_weights_set_total 1",
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, `prefix="abcd0000"`, "the old digest is gone")
}

func TestErrKind(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, "not_found", errKind(ctx, bistro.ErrNotFound))
	assert.Equal(t, "timeout", errKind(ctx, context.DeadlineExceeded))
	assert.Equal(t, "rate_limited", errKind(ctx, bistro.ErrRateLimited))
	assert.Equal(t, "other", errKind(ctx, errors.New("x")))
	c, cancel := context.WithCancel(ctx)
	cancel()
	assert.Equal(t, "canceled", errKind(c, errors.New("x")))
}

func TestLoggerLevels(t *testing.T) {
	var b bytes.Buffer
	l := NewLogger(&Flags{LogFormat: "json", Trace: true}, &b)
	l.Log(context.Background(), slog.LevelDebug-4, "trace line")
	assert.Contains(t, b.String(), `"msg":"trace line"`)
	b.Reset()
	l = NewLogger(&Flags{LogFormat: "text"}, &b)
	l.Debug("hidden")
	assert.Empty(t, b.String())
}

// TestDashboardNamesMetricsThatExist keeps the Grafana dashboard and the
// metrics in step: every bistro_ name it queries is defined here.
func TestDashboardNamesMetricsThatExist(t *testing.T) {
	b, err := os.ReadFile("grafana/bistro.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.Panels)
	var src strings.Builder
	for _, f := range []string{"metrics.go", "run.go", "node.go"} {
		s, err := os.ReadFile(f)
		require.NoError(t, err)
		src.Write(s)
	}
	re := regexp.MustCompile(`bistro_[a-z_]+`)
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			for _, name := range re.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(name, "_bucket")
				short := strings.TrimPrefix(base, "bistro_")
				assert.True(t, strings.Contains(src.String(), `"`+base+`"`) || strings.Contains(src.String(), `"`+short+`"`),
					"panel %q queries %s, which no code defines", p.Title, name)
			}
		}
	}
}

func TestLoadReleaseOverHTTP(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	p := makeRelease(t, filepath.Join(dir, "rel"))
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	rel, err := LoadRelease(ctx, srv.URL+"/rel/params.json")
	require.NoError(t, err)
	assert.Equal(t, p.Digest(), rel.Params.Digest())
	m, err := rel.Genesis(ctx, &train.MLP{})
	require.NoError(t, err)
	theta, err := bistro.ThetaHash(m)
	require.NoError(t, err)
	assert.Equal(t, p.GenesisDigest, theta)
	ds, err := rel.OpenDataset(ctx)
	require.NoError(t, err)
	assert.Equal(t, p.DatasetDigest, ds.Digest())
	_, err = LoadRelease(ctx, srv.URL+"/nope/params.json")
	require.ErrorIs(t, err, bistro.ErrNotFound)
}

// TestRegisteredDevice: a registered --device is accepted by the flags and
// its trainer opened at start; its failure is a configuration error.
func TestRegisteredDevice(t *testing.T) {
	RegisterDevice("testdev", func(p *bistro.Params) (bistro.Trainer, error) {
		return nil, errors.New("no such accelerator here")
	})
	assert.Panics(t, func() { RegisterDevice("testdev", func(*bistro.Params) (bistro.Trainer, error) { return nil, nil }) })
	assert.Panics(t, func() { RegisterDevice("cpu", func(*bistro.Params) (bistro.Trainer, error) { return nil, nil }) })
	dir := t.TempDir()
	makeRelease(t, filepath.Join(dir, "release"))
	makeWallet(t, filepath.Join(dir, "wallets"), "m")
	code, out := runMain(t, Miner, "--wallet.path", filepath.Join(dir, "wallets"), "--wallet.name", "m", "--netuid", "7",
		"--bucket", "b", "--params", filepath.Join(dir, "release", ReleaseParams), "--metrics.addr", "",
		"--subtensor.chain_endpoint", "ws://127.0.0.1:1", "--device", "testdev")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "--device testdev: no such accelerator here")
}

// blockingLoss is a trainer whose Loss waits for release.
type blockingLoss struct {
	train.MLP
	started chan struct{}
	release chan struct{}
}

func (b blockingLoss) Loss(ctx context.Context, m bistro.Model, pages [][]int32) (float64, error) {
	b.started <- struct{}{}
	<-b.release
	return b.MLP.Loss(ctx, m, pages)
}

// TestHeldOutLossOffTheLoop: the held-out loss is computed on a copy of
// the replica on another goroutine — evaluate returns while the loss is
// still running, a newer base is skipped meanwhile, the copy is not changed
// by what the loop does to the replica next, and the metric and the
// "heldout" line follow.
func TestHeldOutLossOffTheLoop(t *testing.T) {
	cfg, err := train.NewMLPConfig(256, 4, 8, 16)
	require.NoError(t, err)
	m, err := train.InitMLP(cfg, sha256.Sum256([]byte("eval")))
	require.NoError(t, err)
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 64, HeldOut: 2})
	require.NoError(t, err)
	pages, err := ds.HeldOut(context.Background())
	require.NoError(t, err)
	want, err := train.MLP{}.Loss(context.Background(), m, pages)
	require.NoError(t, err)

	var logs bytes.Buffer
	tr := blockingLoss{started: make(chan struct{}, 1), release: make(chan struct{})}
	n := &Node{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: NewMetrics(Validator),
		Params: &bistro.Params{Model: cfg}, heldOut: pages}
	n.Config.Trainer = tr
	n.evaluate(context.Background(), 7, m)
	<-tr.started // running, and evaluate has returned
	// The loop moves on: the replica changes and a newer base comes.
	flat := m.Flat()
	for i := range flat {
		flat[i] = 0
	}
	n.evaluate(context.Background(), 8, m)
	close(tr.release)
	require.Eventually(t, func() bool { return !n.eval.busy.Load() }, 10*time.Second, time.Millisecond)
	var got dto.Metric
	require.NoError(t, n.Metrics.HeldOut.Write(&got))
	assert.Equal(t, want, got.GetGauge().GetValue(), "the loss of the copy of base(7)")
	assert.Contains(t, logs.String(), `"msg":"heldout","window":7`)
	assert.NotContains(t, logs.String(), `"window":8`, "base(8) came while base(7) was evaluated")
}
