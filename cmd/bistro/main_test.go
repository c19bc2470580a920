package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// layout is the toy model of the tests: 40 parameters.
var layout = bistro.Layout{{Name: "w", Shape: []int{4, 8}}, {Name: "b", Shape: []int{8}}}

// fixture is a directory of real protocol files, signed by //Alice.
type fixture struct {
	dir    string
	p      bistro.Params
	signer *bistro.Keypair
	seed   bistro.Hash
	base   bistro.Hash
	theta  bistro.Hash // θ hash of the checkpoint, the params' genesis digest

	params, layout, slice, aggregate, checkpoint string // paths
}

func hashOf(s string) bistro.Hash {
	var h bistro.Hash
	copy(h[:], s)
	h[31] = 1
	return h
}

// validParams returns Params that validate, with genesis as θ₀'s hash.
func validParams(genesis bistro.Hash) bistro.Params {
	p := bistro.DefaultParams(3)
	p.DatasetPages = 1000
	p.DatasetDigest = hashOf("dataset")
	p.GenesisDigest = genesis
	p.Model = bistro.ModelConfig{Arch: "mlp/v1", Parameters: layout.Len()}
	p.SliceFraction = 0.25
	return p
}

func writeParams(t *testing.T, path string, p *bistro.Params) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, bistro.WriteParams(&buf, p))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	signer, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)
	fx := &fixture{dir: t.TempDir(), signer: signer, seed: hashOf("seed block"), base: hashOf("base")}
	fx.params = filepath.Join(fx.dir, "params.json")
	fx.layout = filepath.Join(fx.dir, "layout.json")
	fx.slice = filepath.Join(fx.dir, "slice.safetensors")
	fx.aggregate = filepath.Join(fx.dir, "aggregate.safetensors")
	fx.checkpoint = filepath.Join(fx.dir, "checkpoint.safetensors")

	m, err := bistro.NewMemModel(layout)
	require.NoError(t, err)
	for i := range m.Flat() {
		m.Flat()[i] = float32(i) / 7
	}
	fx.theta, err = bistro.ThetaHash(m)
	require.NoError(t, err)
	fx.p = validParams(fx.theta)
	writeParams(t, fx.params, &fx.p)

	lb, err := json.Marshal(layout)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(fx.layout, lb, 0o644))

	fx.write(t, fx.slice, fx.sliceFile(5))
	agg := fx.sliceFile(5)
	agg.Kind = bistro.KindAggregate
	agg.Manifest = []bistro.ManifestEntry{
		{UID: 1, Hotkey: signer.Hotkey(), Payload: hashOf("slice 1")},
		{UID: 4, Hotkey: bistro.Hotkey{4}, Payload: hashOf("slice 4")},
	}
	fx.write(t, fx.aggregate, agg)
	fx.write(t, fx.checkpoint, fx.checkpointFile(&fx.p, 0, m))
	return fx
}

// sliceFile is a slice of window w at fx.seed with values within the norm
// bounds of fx.p.
func (fx *fixture) sliceFile(w uint64) *bistro.File {
	sel, err := bistro.NewSlices(&fx.p)
	if err != nil {
		panic(err)
	}
	idx, err := sel.Select(fx.seed, layout)
	if err != nil {
		panic(err)
	}
	vals := make([][]float32, len(idx))
	for t, ix := range idx {
		vals[t] = make([]float32, len(ix))
		for i := range vals[t] {
			vals[t][i] = float32(i+1) * 1e-5 * float32(t+1)
		}
	}
	return &bistro.File{Kind: bistro.KindSlice, NetUID: fx.p.NetUID, Window: w, Params: fx.p.Digest(),
		Base: fx.base, Seed: fx.seed, Tensors: vals}
}

func (fx *fixture) checkpointFile(p *bistro.Params, w uint64, m *bistro.MemModel) *bistro.File {
	theta, err := bistro.ThetaHash(m)
	if err != nil {
		panic(err)
	}
	return &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: w, Params: p.Digest(),
		Base: p.GenesisDigest, Theta: theta, Tensors: [][]float32{m.Tensor(0), m.Tensor(1)}}
}

func (fx *fixture) write(t *testing.T, path string, f *bistro.File) {
	t.Helper()
	b, err := bistro.Encode(f, layout, fx.signer)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// tampered copies path with one bit of its tensor data flipped.
func (fx *fixture) tampered(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)-4] ^= 0x01 // the last value's lowest mantissa bit: still finite, another value
	out := filepath.Join(fx.dir, "tampered-"+filepath.Base(path))
	require.NoError(t, os.WriteFile(out, b, 0o644))
	return out
}

// result is one in-process run of the command.
type result struct {
	code           int
	stdout, stderr string
	// text is stdout with every run of spaces squeezed to one, so that
	// assertions do not depend on column widths.
	text string
}

var spaces = regexp.MustCompile(` {2,}`)

func runCmd(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code, out.String(), errb.String(), spaces.ReplaceAllString(out.String(), " ")}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no args", nil, "usage: bistro"},
		{"help", []string{"help"}, "usage: bistro"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"params without show", []string{"params"}, "usage: bistro params show"},
		{"params show without file", []string{"params", "show"}, "want 1 argument"},
		{"inspect two files", []string{"inspect", "a", "b"}, "want 1 argument"},
		{"inspect unknown flag", []string{"inspect", "--frob", "a"}, "flag provided but not defined"},
		{"verify without params", []string{"verify", "a"}, "--params is required"},
		{"verify bad seed", []string{"verify", "--params", "p", "--seed", "xyz", "a"}, "--seed"},
		{"verify bad window", []string{"verify", "--params", "p", "--window", "-1", "a"}, "-window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(tc.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	fs := newFlagSet("x", "x", &bytes.Buffer{})
	j := fs.Bool("json", false, "")
	n := fs.Int("n", 0, "")
	pos, err := parseArgs(fs, []string{"a", "--json", "-n", "3", "--", "-b"}, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "-b"}, pos)
	assert.True(t, *j)
	assert.Equal(t, 3, *n)
}

// truncated copies path without its last 3 bytes.
func (fx *fixture) truncated(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := filepath.Join(fx.dir, "truncated-"+filepath.Base(path))
	require.NoError(t, os.WriteFile(out, b[:len(b)-3], 0o644))
	return out
}
