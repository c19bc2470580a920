package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/scoring"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// scoreFixture is a subnet made by `bistro genesis` and two slices of
// window 1 (whose base is θ₀): an honest miner's and a lazy one's.
type scoreFixture struct {
	dir, params, genesis string
	p                    bistro.Params
	seed                 bistro.Hash
	miner                *bistro.Keypair
	honest, lazy         string
}

func newScoreFixture(t *testing.T) *scoreFixture {
	t.Helper()
	fx := &scoreFixture{dir: t.TempDir(), seed: sha256.Sum256([]byte("seed block of window 1"))}
	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run([]string{"genesis", "--out", fx.dir, "--context", "4", "--embed", "8", "--hidden", "32",
		"--page-length", "128"}, &out, &errb), errb.String())
	fx.params, fx.genesis = filepath.Join(fx.dir, "params.json"), filepath.Join(fx.dir, "genesis.safetensors")
	var err error
	fx.p, err = bistro.LoadParams(fx.params)
	require.NoError(t, err)
	fx.miner, err = bistro.KeypairFromURI("//Miner")
	require.NoError(t, err)

	b, err := os.ReadFile(fx.genesis)
	require.NoError(t, err)
	ck, layout, ok, err := bistro.Inspect(b, 1<<24)
	require.NoError(t, err)
	require.True(t, ok)
	theta0, err := bistro.NewMemModel(layout)
	require.NoError(t, err)
	for i, v := range ck.Tensors {
		require.NoError(t, theta0.Write(i, v))
	}
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 128, HeldOut: 16})
	require.NoError(t, err)
	sel, err := bistro.NewSlices(&fx.p)
	require.NoError(t, err)
	idx, err := sel.Select(fx.seed, layout)
	require.NoError(t, err)
	pages, err := bistro.NewPages(&fx.p)
	require.NoError(t, err)
	honest, err := bistro.Recompute(context.Background(), &fx.p, theta0, &train.MLP{}, ds, pages, 1, fx.miner.Hotkey(), idx)
	require.NoError(t, err)
	lazy := make([][]float32, len(idx))
	for i := range idx {
		lazy[i] = make([]float32, len(idx[i]))
	}
	write := func(name string, values [][]float32) string {
		f := &bistro.File{Kind: bistro.KindSlice, NetUID: fx.p.NetUID, Window: 1, Params: fx.p.Digest(),
			Base: fx.p.GenesisDigest, Seed: fx.seed, Tensors: values}
		b, err := bistro.Encode(f, layout, fx.miner)
		require.NoError(t, err)
		path := filepath.Join(fx.dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	fx.honest, fx.lazy = write("honest.safetensors", honest), write("lazy.safetensors", lazy)
	return fx
}

func (fx *scoreFixture) args(slice string) []string {
	return []string{"score", "--params", fx.params, "--checkpoint", fx.genesis, "--dataset", "optics", "--window", "1",
		"--hotkey", fx.miner.Hotkey().String(), "--seed", fx.seed.String(), slice}
}

func (fx *scoreFixture) request(slice string) string {
	w := uint64(1)
	b, err := json.Marshal(&scoring.Request{Params: fx.params, Checkpoint: fx.genesis, Dataset: "optics", Window: &w,
		Hotkey: fx.miner.Hotkey().String(), Seed: fx.seed.String(), Slice: slice})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestScoreCommand(t *testing.T) {
	fx := newScoreFixture(t)
	for _, tc := range []struct {
		name, slice, want string
	}{
		{"honest", fx.honest, `{"verdict":"pass","value":1,"rel_err":0,"reason":"rel err 0 <= tau 0.05"}`},
		{"lazy", fx.lazy, `{"verdict":"slash","value":0,"rel_err":1,"reason":"rel err 1 > slash 0.1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(fx.args(tc.slice)...)
			assert.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, tc.want+"\n", r.stdout)
			assert.Empty(t, r.stderr)

			// The same request as JSON, from a file and from stdin, and the
			// library's entry point: the same bytes.
			reqPath := filepath.Join(fx.dir, tc.name+".json")
			require.NoError(t, os.WriteFile(reqPath, []byte(fx.request(tc.slice)), 0o644))
			r = runCmd("score", "--request", reqPath)
			assert.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, tc.want+"\n", r.stdout)
			stdin = strings.NewReader(fx.request(tc.slice))
			defer func() { stdin = os.Stdin }()
			r = runCmd("score", "--request", "-")
			assert.Equal(t, tc.want+"\n", r.stdout)
			assert.Equal(t, tc.want, string(scoring.ScoreJSON(context.Background(), []byte(fx.request(tc.slice)))))
		})
	}
}

func TestScoreCommandErrors(t *testing.T) {
	fx := newScoreFixture(t)
	b, err := os.ReadFile(fx.honest)
	require.NoError(t, err)
	truncated := filepath.Join(fx.dir, "truncated.safetensors")
	require.NoError(t, os.WriteFile(truncated, b[:len(b)/2], 0o644))
	nan := bytes.Clone(b)
	binary.LittleEndian.PutUint32(nan[len(nan)-4:], math.Float32bits(float32(math.Inf(1))))
	nanPath := filepath.Join(fx.dir, "nan.safetensors")
	require.NoError(t, os.WriteFile(nanPath, nan, 0o644))
	alice, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)

	without := func(args []string, flag string) []string {
		var out []string
		for i := 0; i < len(args); i++ {
			if args[i] == flag {
				i++
				continue
			}
			out = append(out, args[i])
		}
		return out
	}
	with := func(args []string, flag, value string) []string {
		return append(without(args, flag), flag, value)
	}
	for _, tc := range []struct {
		name string
		args []string
		code scoring.Code
		want string
	}{
		{"truncated slice", fx.args(truncated), scoring.BadFile, "slice " + truncated + ": bistro: malformed file"},
		{"wrong window", with(fx.args(fx.honest), "--window", "2"), scoring.WrongWindow,
			"slice " + fx.honest + ": bistro: wrong window: 1, want 2"},
		{"another hotkey's slice", with(fx.args(fx.honest), "--hotkey", alice.Hotkey().String()), scoring.WrongHotkey,
			"slice " + fx.honest + ": bistro: signed by an unexpected hotkey: " + fx.miner.Hotkey().String() + ", want " + alice.Hotkey().String()},
		{"non-finite values", fx.args(nanPath), scoring.NonFinite, "slice " + nanPath + ": bistro: NaN or Inf in file"},
		{"missing flag", without(fx.args(fx.honest), "--seed"), scoring.BadRequest, `request is missing field "seed"`},
		{"missing slice", fx.args(fx.honest)[:len(fx.args(fx.honest))-1], scoring.BadRequest, `request is missing field "slice"`},
		{"two slices", append(fx.args(fx.honest), fx.lazy), scoring.BadRequest, "want one SLICE file, got 2 arguments"},
		{"bad window flag", with(fx.args(fx.honest), "--window", "-1"), scoring.BadRequest, `invalid value "-1" for flag -window`},
		{"unknown flag", append(fx.args(fx.honest), "--frob"), scoring.BadRequest, "flag provided but not defined: -frob"},
		{"request and flags", []string{"score", "--request", "x.json", "--window", "1"}, scoring.BadRequest,
			"--request takes the whole request"},
		{"request file missing", []string{"score", "--request", filepath.Join(fx.dir, "none.json")}, scoring.BadRequest,
			"--request: open " + filepath.Join(fx.dir, "none.json") + ": no such file or directory"},
		{"dataset missing", with(fx.args(fx.honest), "--dataset", filepath.Join(fx.dir, "none.json")), scoring.Unreadable,
			"dataset " + filepath.Join(fx.dir, "none.json") + ": no such file or directory"},
		{"aggregate not needed", append(fx.args(fx.honest), "--aggregate", fx.lazy), scoring.BadRequest,
			"base(1) from the checkpoint of window 0 needs no aggregates; the request names 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(tc.args...)
			assert.Equal(t, tc.code.ExitStatus(), r.code, r.stderr)
			var resp struct{ Error scoring.Error }
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &resp), r.stdout)
			assert.Equal(t, tc.code, resp.Error.Code)
			assert.Contains(t, resp.Error.Message, tc.want)
			assert.Equal(t, 1, strings.Count(r.stdout, "\n"), "one JSON object, one line")
			assert.NotEmpty(t, r.stderr, "the error, on stderr too")
		})
	}
	// The exit statuses are distinct, and none is 0.
	seen := map[int]bool{exitOK: true}
	for _, c := range scoring.Codes() {
		assert.False(t, seen[c.ExitStatus()], "%s: status %d taken", c, c.ExitStatus())
		seen[c.ExitStatus()] = true
	}
	r := runCmd("score", "-h")
	assert.Equal(t, exitUsage, r.code)
	for _, c := range scoring.Codes() {
		assert.Contains(t, r.stderr, strconv.Itoa(c.ExitStatus())+" "+string(c))
	}
}
