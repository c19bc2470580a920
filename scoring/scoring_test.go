package scoring_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/scoring"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// chain is a network's files built directly, as ExampleScoreSlice builds its
// inputs: a genesis checkpoint (window 0), the aggregate of window 0, and
// slices of windows 1 (on θ₀) and 2 (on θ₀ + aggregate 0).
type chain struct {
	dir        string
	p          bistro.Params
	layout     bistro.Layout
	lead       *bistro.Keypair
	miner      *bistro.Keypair
	other      *bistro.Keypair
	seeds      [3]bistro.Hash
	idx        [3]bistro.Indices
	theta0     *bistro.MemModel
	base2      *bistro.MemModel
	d2         bistro.Hash
	ds         *data.OpticsDataset
	params     string
	checkpoint string
	aggregate0 string
}

func newChain(t testing.TB) *chain {
	t.Helper()
	ctx := context.Background()
	c := &chain{dir: t.TempDir()}
	var err error
	c.ds, err = data.OpenOptics(data.OpticsOptions{PageLength: 128, HeldOut: 4})
	require.NoError(t, err)
	cfg, err := train.NewMLPConfig(256, 4, 8, 32)
	require.NoError(t, err)
	c.theta0, err = train.InitMLP(cfg, sha256.Sum256([]byte("genesis")))
	require.NoError(t, err)
	c.layout = c.theta0.Layout()
	theta, err := bistro.ThetaHash(c.theta0)
	require.NoError(t, err)
	p := bistro.DefaultParams(3)
	p.PageLength, p.DatasetPages, p.DatasetDigest = 128, c.ds.Pages(), c.ds.Digest()
	p.Model, p.GenesisDigest = cfg, theta
	p.SliceFraction, p.LR = 0.1, bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.5}
	p.Checks.MinNormFactor = 0.05
	c.p = p
	c.params = filepath.Join(c.dir, "params.json")
	var pj bytes.Buffer
	require.NoError(t, bistro.WriteParams(&pj, &p))
	require.NoError(t, os.WriteFile(c.params, pj.Bytes(), 0o644))

	for uri, k := range map[string]**bistro.Keypair{"//Lead": &c.lead, "//Miner": &c.miner, "//Other": &c.other} {
		*k, err = bistro.KeypairFromURI(uri)
		require.NoError(t, err)
	}
	for w := range c.seeds {
		c.seeds[w] = sha256.Sum256([]byte{byte(w), 's', 'e', 'e', 'd'})
		c.idx[w], err = bistro.Slices{Fraction: p.SliceFraction, Run: p.SliceRun}.Select(c.seeds[w], c.layout)
		require.NoError(t, err)
	}

	// The genesis checkpoint.
	ck := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: 0, Params: p.Digest(),
		Base: theta, Theta: theta, Tensors: make([][]float32, len(c.layout))}
	for t := range c.layout {
		ck.Tensors[t] = c.theta0.Tensor(t)
	}
	c.checkpoint = c.write(t, "checkpoint-0.safetensors", ck, c.lead)

	// The aggregate of window 0: one honest miner's update on θ₀.
	pages, err := bistro.NewPages(&p)
	require.NoError(t, err)
	delta, err := bistro.Recompute(ctx, &p, c.theta0, &train.MLP{}, c.ds, pages, 0, c.miner.Hotkey(), c.idx[0])
	require.NoError(t, err)
	agg := &bistro.File{Kind: bistro.KindAggregate, NetUID: p.NetUID, Window: 0, Params: p.Digest(), Base: theta,
		Seed: c.seeds[0], Manifest: []bistro.ManifestEntry{{UID: 1, Hotkey: c.miner.Hotkey(), Payload: sha256.Sum256([]byte("s"))}},
		Tensors: delta}
	c.aggregate0 = c.write(t, "aggregate-0.safetensors", agg, c.lead)
	c.base2 = c.theta0.Clone()
	outer, err := bistro.NewOuter(&p, c.layout)
	require.NoError(t, err)
	c.d2, err = bistro.StepState(c.base2, outer, theta, c.idx[0], agg)
	require.NoError(t, err)
	return c
}

func (c *chain) write(t testing.TB, name string, f *bistro.File, signer bistro.Signer) string {
	t.Helper()
	b, err := bistro.Encode(f, c.layout, signer)
	require.NoError(t, err)
	path := filepath.Join(c.dir, name)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// honest is the update a miner computes in window w (1 or 2), at the slice.
func (c *chain) honest(t testing.TB, w uint64) [][]float32 {
	t.Helper()
	base := c.theta0
	if w == 2 {
		base = c.base2
	}
	pages, err := bistro.NewPages(&c.p)
	require.NoError(t, err)
	v, err := bistro.Recompute(context.Background(), &c.p, base, &train.MLP{}, c.ds, pages, w, c.miner.Hotkey(), c.idx[w])
	require.NoError(t, err)
	return v
}

// slice writes a slice of window w with values, signed by signer.
func (c *chain) slice(t testing.TB, name string, w uint64, values [][]float32, signer bistro.Signer) string {
	t.Helper()
	base := c.p.GenesisDigest
	if w == 2 {
		base = c.d2
	}
	f := &bistro.File{Kind: bistro.KindSlice, NetUID: c.p.NetUID, Window: w, Params: c.p.Digest(), Base: base,
		Seed: c.seeds[w], Tensors: values}
	return c.write(t, name, f, signer)
}

func (c *chain) request(w uint64, slice string) *scoring.Request {
	r := &scoring.Request{Params: c.params, Checkpoint: c.checkpoint, Dataset: "optics", Window: &w,
		Hotkey: c.miner.Hotkey().String(), Seed: c.seeds[w].String(), Slice: slice}
	if w == 2 {
		r.Aggregates = []string{c.aggregate0}
	}
	return r
}

func scaled(v [][]float32, s float32) [][]float32 {
	out := make([][]float32, len(v))
	for t := range v {
		out[t] = make([]float32, len(v[t]))
		for i, x := range v[t] {
			out[t][i] = x * s
		}
	}
	return out
}

// roundTrip checks that the request's JSON form gives the same answer as the
// struct, byte for byte.
func roundTrip(t *testing.T, req *scoring.Request) []byte {
	t.Helper()
	b, err := json.Marshal(req)
	require.NoError(t, err)
	got := scoring.ScoreJSON(context.Background(), b)
	require.Equal(t, string(scoring.Score(context.Background(), req).Encode()), string(got))
	return got
}

func TestScoreVerdicts(t *testing.T) {
	c := newChain(t)
	ctx := context.Background()
	honest2 := c.honest(t, 2)
	for _, tc := range []struct {
		name    string
		w       uint64
		values  [][]float32
		verdict string
		value   float64
		relErr  any // float64, or nil for null
		reason  string
	}{
		{"honest on the genesis", 1, c.honest(t, 1), "pass", 1, 0.0, "rel err 0 <= tau 0.05"},
		{"honest after an aggregate", 2, honest2, "pass", 1, 0.0, "rel err 0 <= tau 0.05"},
		{"a little off", 2, scaled(honest2, 1.07), "fail", 0, 0.07, "> tau 0.05"},
		{"far off", 2, scaled(honest2, -1), "slash", 0, 2.0, "> slash 0.1"},
		{"lazy", 2, scaled(honest2, 0), "fail", 0, nil, "slice norm out of bounds: 0 <"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := c.slice(t, strings.ReplaceAll(tc.name, " ", "-")+".safetensors", tc.w, tc.values, c.miner)
			req := c.request(tc.w, path)
			resp := scoring.Score(ctx, req)
			require.Nil(t, resp.Error, "%+v", resp.Error)
			assert.Equal(t, tc.verdict, resp.Verdict)
			assert.Equal(t, tc.value, resp.Value)
			assert.Contains(t, resp.Reason, tc.reason)
			var got map[string]any
			require.NoError(t, json.Unmarshal(roundTrip(t, req), &got))
			assert.Equal(t, []string{"reason", "rel_err", "value", "verdict"}, slices.Sorted(maps.Keys(got)))
			if tc.relErr == nil {
				assert.Nil(t, got["rel_err"])
			} else {
				assert.InDelta(t, tc.relErr, got["rel_err"], 1e-6)
			}

			// The Go path with the model in memory says the same.
			p := c.p
			tr, layout, err := scoring.NewTrainer(&p)
			require.NoError(t, err)
			base, digest, err := scoring.LoadBase(&p, layout, tc.w, req.Checkpoint, req.Aggregates, nil)
			require.NoError(t, err)
			want := c.p.GenesisDigest
			if tc.w == 2 {
				want = c.d2
			}
			assert.Equal(t, want, digest, "replayed state digest")
			s, err := bistro.ScoreSlice(ctx, &p, base, tr, c.ds, nil,
				bistro.SliceInput{Window: tc.w, Hotkey: c.miner.Hotkey(), Seed: c.seeds[tc.w], Values: tc.values})
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, s.Verdict.String())
			assert.Equal(t, s.Reason, resp.Reason)
		})
	}
}

// TestScoreErrors gives every kind of bad input and checks its code, field
// and message; the JSON form says the same.
func TestScoreErrors(t *testing.T) {
	c := newChain(t)
	honest := c.honest(t, 2)
	good := c.slice(t, "good.safetensors", 2, honest, c.miner)
	goodBytes, err := os.ReadFile(good)
	require.NoError(t, err)
	writeRaw := func(name string, b []byte) string {
		path := filepath.Join(c.dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	truncated := writeRaw("truncated.safetensors", goodBytes[:len(goodBytes)-5])
	nan := bytes.Clone(goodBytes)
	binary.LittleEndian.PutUint32(nan[len(nan)-4:], math.Float32bits(float32(math.NaN())))
	nanPath := writeRaw("nan.safetensors", nan)
	otherKey := c.slice(t, "other.safetensors", 2, honest, c.other)
	window1 := c.slice(t, "window1.safetensors", 1, c.honest(t, 1), c.miner)
	wrongBase := c.write(t, "wrong-base.safetensors", &bistro.File{Kind: bistro.KindSlice, NetUID: c.p.NetUID, Window: 2,
		Params: c.p.Digest(), Base: c.p.GenesisDigest, Seed: c.seeds[2], Tensors: honest}, c.miner)
	flipped, err := os.ReadFile(c.aggregate0)
	require.NoError(t, err)
	flipped[len(flipped)-4] ^= 1
	flippedAgg := writeRaw("flipped-aggregate.safetensors", flipped)
	garbageParams := writeRaw("garbage-params.json", []byte(`{"protocol": 1`))
	fifo := filepath.Join(c.dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644)) // opening it would block: it must be refused unopened

	for _, tc := range []struct {
		name    string
		edit    func(r *scoring.Request)
		code    scoring.Code
		field   string
		message string
	}{
		{"truncated slice", func(r *scoring.Request) { r.Slice = truncated }, scoring.BadFile, "slice",
			"slice " + truncated + ": bistro: malformed file:"},
		{"wrong window", func(r *scoring.Request) { r.Slice = window1 }, scoring.WrongWindow, "slice",
			"slice " + window1 + ": bistro: wrong window: 1, want 2"},
		{"another hotkey's slice", func(r *scoring.Request) { r.Slice = otherKey }, scoring.WrongHotkey, "slice",
			"slice " + otherKey + ": bistro: signed by an unexpected hotkey: " + c.other.Hotkey().String() + ", want " + c.miner.Hotkey().String()},
		{"NaN values", func(r *scoring.Request) { r.Slice = nanPath }, scoring.NonFinite, "slice",
			"slice " + nanPath + ": bistro: NaN or Inf in file: tensor"},
		{"missing field", func(r *scoring.Request) { r.Seed = "" }, scoring.BadRequest, "seed",
			`request is missing field "seed"`},
		{"missing fields", func(r *scoring.Request) { r.Seed, r.Window, r.Params = "", nil, "" }, scoring.BadRequest, "params",
			`request is missing fields "params", "window", "seed"`},
		{"slice missing", func(r *scoring.Request) { r.Slice = filepath.Join(c.dir, "nope.safetensors") }, scoring.Unreadable, "slice",
			"slice " + filepath.Join(c.dir, "nope.safetensors") + ": no such file or directory"},
		{"slice is a folder", func(r *scoring.Request) { r.Slice = c.dir }, scoring.Unreadable, "slice", "not a regular file"},
		{"slice is a FIFO", func(r *scoring.Request) { r.Slice = fifo }, scoring.Unreadable, "slice", "not a regular file"},
		{"checkpoint is a device", func(r *scoring.Request) { r.Checkpoint = os.DevNull }, scoring.Unreadable, "checkpoint", "not a regular file"},
		{"bad hotkey", func(r *scoring.Request) { r.Hotkey = "5Gxyz" }, scoring.BadRequest, "hotkey", `request field "hotkey" is not an SS58 address`},
		{"bad seed", func(r *scoring.Request) { r.Seed = "abc" }, scoring.BadRequest, "seed", `request field "seed" is not a hash`},
		{"wrong seed", func(r *scoring.Request) { r.Seed = c.seeds[1].String() }, scoring.WrongSeed, "slice", "wrong seed"},
		{"wrong base", func(r *scoring.Request) { r.Slice = wrongBase }, scoring.WrongBase, "slice",
			"the slice names " + c.p.GenesisDigest.String() + ", base(2) replayed from the checkpoint and aggregates is " + c.d2.String()},
		{"aggregate missing", func(r *scoring.Request) { r.Aggregates = nil }, scoring.BadRequest, "aggregates",
			"base(2) from the checkpoint of window 0 needs the aggregate of window 0; the request names 0"},
		{"aggregate tampered", func(r *scoring.Request) { r.Aggregates = []string{flippedAgg} }, scoring.BadSignature, "aggregates[0]",
			"aggregates[0] " + flippedAgg + ": bistro: bad signature"},
		{"slice as aggregate", func(r *scoring.Request) { r.Aggregates = []string{good} }, scoring.BadFile, "aggregates[0]", "wrong file kind"},
		{"another lead", func(r *scoring.Request) { r.Lead = c.other.Hotkey().String() }, scoring.WrongHotkey, "checkpoint",
			"checkpoint " + c.checkpoint + ": bistro: signed by an unexpected hotkey"},
		{"slice as checkpoint", func(r *scoring.Request) { r.Checkpoint = good }, scoring.BadFile, "checkpoint", "tensors do not match the layout"},
		{"params missing", func(r *scoring.Request) { r.Params = filepath.Join(c.dir, "none.json") }, scoring.Unreadable, "params", "no such file"},
		{"params invalid", func(r *scoring.Request) { r.Params = garbageParams }, scoring.BadParams, "params",
			"params " + garbageParams + ": bistro: invalid params: unexpected EOF"},
		{"dataset missing", func(r *scoring.Request) { r.Dataset = filepath.Join(c.dir, "manifest.json") }, scoring.Unreadable, "dataset", "no such file"},
		{"dataset not pinned", func(r *scoring.Request) { r.Dataset = "optics:" + c.params }, scoring.BadDataset, "dataset", "digest"},
		{"dataset key without URL", func(r *scoring.Request) { r.DatasetKey = "m.json" }, scoring.BadRequest, "dataset_key", "applies to a dataset given by URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := c.request(2, good)
			tc.edit(req)
			resp := scoring.Score(context.Background(), req)
			require.NotNil(t, resp.Error, "a score: %+v", resp)
			assert.Equal(t, tc.code, resp.Error.Code, resp.Error.Message)
			assert.Equal(t, tc.field, resp.Error.Field)
			assert.Contains(t, resp.Error.Message, tc.message)
			var got map[string]map[string]string
			require.NoError(t, json.Unmarshal(roundTrip(t, req), &got))
			assert.Equal(t, string(tc.code), got["error"]["code"])
		})
	}
	t.Run("checkpoint newer than the window", func(t *testing.T) {
		// A checkpoint of window 3, valid in itself.
		ck := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: c.p.NetUID, Window: 3, Params: c.p.Digest(),
			Base: c.d2, Tensors: make([][]float32, len(c.layout))}
		for t := range c.layout {
			ck.Tensors[t] = c.base2.Tensor(t)
		}
		ck.Theta, err = bistro.ThetaHash(c.base2)
		require.NoError(t, err)
		req := c.request(2, good)
		req.Checkpoint = c.write(t, "checkpoint-3.safetensors", ck, c.lead)
		resp := scoring.Score(context.Background(), req)
		require.NotNil(t, resp.Error)
		assert.Equal(t, scoring.WrongWindow, resp.Error.Code)
		assert.Contains(t, resp.Error.Message, "the checkpoint holds base(3), newer than window 2")
	})
}

func TestParseRequest(t *testing.T) {
	full := `{"params":"p","checkpoint":"c","dataset":"optics","window":6,"hotkey":"h","seed":"s","slice":"x"}`
	r, err := scoring.ParseRequest([]byte(full))
	require.NoError(t, err)
	assert.Equal(t, uint64(6), *r.Window)
	for _, tc := range []struct{ name, doc, message string }{
		{"empty", "", "request is empty (want a JSON object)"},
		{"spaces", "  \n", "request is empty (want a JSON object)"},
		{"array", `[1]`, "request is not a JSON object"},
		{"garbage", "\x00\xff garbage", "request is not a JSON object"},
		{"cut", `{"params":"p"`, "request is not valid JSON: unexpected end of input"},
		{"trailing", full + `{}`, "request has data after the JSON object"},
		{"unknown", `{"params":"p","Window":1}`, `request has an unknown field "Window" (want params, checkpoint, aggregates, lead, dataset, dataset_key, window, hotkey, seed, slice)`},
		{"repeated", `{"params":"p","params":"q"}`, `request gives field "params" twice`},
		{"window string", strings.Replace(full, `6`, `"6"`, 1), `request field "window" is a string, want a non-negative integer`},
		{"window negative", strings.Replace(full, `6`, `-6`, 1), `request field "window" is the number -6, want a non-negative integer`},
		{"aggregates not paths", strings.Replace(full, `"dataset"`, `"aggregates":[1],"dataset"`, 1), `request field "aggregates" is an array, want an array of paths`},
		{"null fields", `{"params":null,"checkpoint":"c","dataset":"optics","window":null,"hotkey":"h","seed":"s","slice":"x"}`, `request is missing fields "params", "window"`},
		{"empty path in aggregates", strings.Replace(full, `"dataset"`, `"aggregates":["a",""],"dataset"`, 1), `request field "aggregates" has an empty path at index 1`},
		{"huge", `{"params":"` + strings.Repeat("p", scoring.MaxRequestBytes) + `"}`, "request larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scoring.ParseRequest([]byte(tc.doc))
			var e *scoring.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, scoring.BadRequest, e.Code)
			assert.Equal(t, tc.message, e.Message)
			assert.Equal(t, `{"error":{"code":"bad_request","message":`+quote(tc.message)+field(e.Field)+`}}`,
				string(scoring.ScoreJSON(context.Background(), []byte(tc.doc))))
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func field(f string) string {
	if f == "" {
		return ""
	}
	return `,"field":` + quote(f)
}

func TestExitStatusesDistinct(t *testing.T) {
	seen := map[int]scoring.Code{}
	for _, c := range scoring.Codes() {
		s := c.ExitStatus()
		assert.NotZero(t, s, c)
		_, dup := seen[s]
		assert.False(t, dup, "%s and %s share exit status %d", c, seen[s], s)
		seen[s] = c
	}
	assert.Equal(t, 2, scoring.BadRequest.ExitStatus(), "bad_request is the tool's usage status")
}

// FuzzParseRequest feeds arbitrary documents to the request decoder and the
// whole JSON path: it never panics and always answers one JSON object.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"params":"p","checkpoint":"c","dataset":"optics","window":6,"hotkey":"h","seed":"s","slice":"x"}`))
	f.Add([]byte(`{"aggregates":["a","b"],"lead":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY","window":18446744073709551615}`))
	f.Add([]byte(`{"hotkey":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY","seed":"0x00"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := scoring.ParseRequest(b)
		if err == nil {
			require.NotNil(t, r.Window)
		}
		out := scoring.ScoreJSON(context.Background(), b)
		var resp map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(out, &resp), "%s", out)
	})
}

// TestLoadBaseCounts: the aggregates a base needs are counted from the
// windows, never enumerated, so a far window is refused at once.
func TestLoadBaseCounts(t *testing.T) {
	c := newChain(t)
	for _, tc := range []struct {
		w          uint64
		aggregates []string
		want       string
	}{
		{1, nil, ""},
		{2, []string{c.aggregate0}, ""},
		{1, []string{c.aggregate0}, "base(1) from the checkpoint of window 0 needs no aggregates; the request names 1"},
		{3, []string{c.aggregate0}, "base(3) from the checkpoint of window 0 needs the aggregates of windows 0…1 in order (2); the request names 1"},
		{math.MaxUint64, nil, "base(18446744073709551615) from the checkpoint of window 0 needs the aggregates of windows 0…18446744073709551613 in order (18446744073709551614); the request names 0"},
	} {
		_, _, err := scoring.LoadBase(&c.p, c.layout, tc.w, c.checkpoint, tc.aggregates, nil)
		if tc.want == "" {
			assert.NoError(t, err, "window %d", tc.w)
			continue
		}
		var e *scoring.Error
		require.ErrorAs(t, err, &e, "window %d", tc.w)
		assert.Equal(t, scoring.BadRequest, e.Code)
		assert.Equal(t, tc.want, e.Message)
	}
}
