//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/internal/localrun"
	"github.com/bistro-go/bistro/scoring"
)

// root is the module's root, from this package's folder.
const root = "../.."

// scored is one line of the Python example's --json output.
type scored struct {
	Window   uint64           `json:"window"`
	Miner    string           `json:"miner"`
	Request  *scoring.Request `json:"request"`
	Response string           `json:"response"`
}

// TestScorePathsAgree scores the slices of a short local network — two
// honest miners, a lazy and a noisy one — through the three paths another
// subnet's validator can take: Go (package scoring), `bistro score` and the
// Python binding of the C library (the example validator), and requires the
// same bytes from each; then bad inputs through all three give the same
// errors, and garbage never crashes the Python host.
func TestScorePathsAgree(t *testing.T) {
	python, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is part of the test command's requirements (README)")
	ctx := context.Background()
	tmp := t.TempDir()
	lap := time.Now()
	timing := func(what string) {
		t.Logf("%-34s %v", what, time.Since(lap).Round(time.Millisecond))
		lap = time.Now()
	}

	// The two builds run while the network does: on a cold build cache
	// they are most of this test's time.
	lib, cli := filepath.Join(tmp, "lib", "libbistro.so"), filepath.Join(tmp, "bistro")
	builds := []*exec.Cmd{
		exec.Command(filepath.Join(root, "scripts", "libbistro"), filepath.Join(tmp, "lib")),
		exec.Command("go", "build", "-o", cli, filepath.Join(root, "cmd", "bistro")),
	}
	var outs [2]bytes.Buffer
	for i, b := range builds {
		b.Stdout, b.Stderr = &outs[i], &outs[i]
		require.NoError(t, b.Start())
		t.Cleanup(func() {
			if b.ProcessState == nil { // the test failed before waiting for it
				_ = b.Process.Kill()
				_ = b.Wait()
			}
		})
	}
	run, err := localrun.Make(ctx, filepath.Join(tmp, "run"), localrun.DefaultOptions())
	require.NoError(t, err)
	require.True(t, run.Report.DigestsAgree)
	timing("local network (6 windows)")
	for i, b := range builds {
		require.NoError(t, b.Wait(), "%s: %s", b.Args, outs[i].String())
	}
	require.FileExists(t, filepath.Join(tmp, "lib", "libbistro.h"))
	timing("scripts/libbistro and go build ./cmd/bistro")

	// The Python path: the example validator over the whole run.
	cmd := exec.Command(python, filepath.Join(root, "examples", "scoring", "validator.py"), "--lib", lib, "--json", run.Dir)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	var results []scored
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var s scored
		require.NoError(t, json.Unmarshal([]byte(line), &s), line)
		results = append(results, s)
	}
	timing("python example validator")
	require.Len(t, results, 5*4, "windows 4…8 (checkpoints 4 and 8) × 4 miners")

	verdicts := map[string]map[string]int{} // role → verdict → count
	for _, r := range results {
		// The Go path and the CLI path give the same bytes.
		assert.Equal(t, r.Response, string(scoring.Score(ctx, r.Request).Encode()), "Go, window %d, %s", r.Window, r.Miner)
		code, stdout := runCLI(t, cli, flagsOf(r.Request)...)
		assert.Equal(t, 0, code, "CLI exit, window %d, %s", r.Window, r.Miner)
		assert.Equal(t, r.Response+"\n", stdout, "CLI, window %d, %s", r.Window, r.Miner)

		var resp map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.Response), &resp))
		role := "honest" // buckets are named Miner0, Miner1, Adversary0-lazy, Adversary1-noise
		if _, adv, ok := strings.Cut(r.Miner, "-"); ok {
			role = adv
		}
		if verdicts[role] == nil {
			verdicts[role] = map[string]int{}
		}
		verdict, _ := resp["verdict"].(string)
		verdicts[role][verdict]++
	}
	timing("Go and CLI on every slice")
	assert.Equal(t, map[string]map[string]int{
		"honest": {"pass": 10},
		"lazy":   {"fail": 5},
		"noise":  {"slash": 5},
	}, verdicts, "honest miners pass, the lazy one fails the norm bound, noise is slashed")

	// Bad inputs, from a good request of window 6.
	good := find(t, results, 6, "Miner0").Request
	readSlice := func(w uint64, miner string) []byte {
		b, err := os.ReadFile(find(t, results, w, miner).Request.Slice)
		require.NoError(t, err)
		return b
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(tmp, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	honest := readSlice(6, "Miner0")
	nan := bytes.Clone(honest)
	binary.LittleEndian.PutUint32(nan[len(nan)-4:], math.Float32bits(float32(math.NaN())))
	bad := []struct {
		name string
		req  *scoring.Request
		code scoring.Code
		want string
	}{
		{"truncated", edit(good, func(r *scoring.Request) { r.Slice = write("truncated.safetensors", honest[:len(honest)-7]) }),
			scoring.BadFile, "bistro: malformed file"},
		{"wrong window", edit(good, func(r *scoring.Request) { r.Slice = find(t, results, 5, "Miner0").Request.Slice }),
			scoring.WrongWindow, "bistro: wrong window: 5, want 6"},
		{"another hotkey", edit(good, func(r *scoring.Request) { r.Slice = find(t, results, 6, "Miner1").Request.Slice }),
			scoring.WrongHotkey, "bistro: signed by an unexpected hotkey: " + find(t, results, 6, "Miner1").Request.Hotkey + ", want " + good.Hotkey},
		{"NaN values", edit(good, func(r *scoring.Request) { r.Slice = write("nan.safetensors", nan) }),
			scoring.NonFinite, "bistro: NaN or Inf in file"},
		{"missing field", edit(good, func(r *scoring.Request) { r.Seed = "" }),
			scoring.BadRequest, `request is missing field "seed"`},
	}
	var cases bytes.Buffer
	enc := json.NewEncoder(&cases)
	for _, b := range bad {
		require.NoError(t, enc.Encode(map[string]any{"name": b.name, "request": b.req}))
	}
	// Garbage the library must answer without crashing its host.
	hugeValid := `{"params":"` + strings.Repeat("p", 2*scoring.MaxRequestBytes) + `"}`
	garbage := []map[string]any{
		{"name": "empty", "raw": ""},
		{"name": "null pointer", "null": true},
		{"name": "garbage bytes", "hex": hex.EncodeToString([]byte("\xff\xfe garbage \x80\x01"))},
		{"name": "NUL inside", "hex": hex.EncodeToString([]byte(`{"params":"p"}` + "\x00" + `{"seed":"s"}`))},
		{"name": "not utf-8 in a path", "hex": hex.EncodeToString([]byte(`{"params":"\xff\xfe"}`))},
		{"name": "huge", "huge": 8 * scoring.MaxRequestBytes},
		{"name": "huge but well-formed", "raw": hugeValid},
		{"name": "deeply nested", "raw": `{"params":` + strings.Repeat("[", 100000)},
		{"name": "array", "raw": `[{"window":1}]`},
		{"name": "all fields missing", "raw": `{}`},
		{"name": "wrong types", "raw": `{"params":1,"window":"6"}`},
		{"name": "unknown field", "raw": `{"windwo":6}`},
		{"name": "window overflow", "raw": `{"window":18446744073709551616}`},
	}
	for _, g := range garbage {
		require.NoError(t, enc.Encode(g))
	}
	cmd = exec.Command(python, filepath.Join("testdata", "drive.py"), lib)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = &cases
	cmd.Stderr = os.Stderr
	out, err = cmd.Output()
	require.NoError(t, err, "the Python host must survive every call")
	fromPython := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	alive := false
	for sc.Scan() {
		var line struct {
			Name     string `json:"name"`
			Response string `json:"response"`
			Alive    bool   `json:"alive"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		if line.Alive {
			alive = true
			continue
		}
		fromPython[line.Name] = line.Response
	}
	require.NoError(t, sc.Err())
	assert.True(t, alive, "the Python host finished")
	timing("python binding, bad input and garbage")

	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			goResp := string(scoring.Score(ctx, b.req).Encode())
			var e struct{ Error scoring.Error }
			require.NoError(t, json.Unmarshal([]byte(goResp), &e), goResp)
			assert.Equal(t, b.code, e.Error.Code)
			assert.Contains(t, e.Error.Message, b.want)
			assert.Equal(t, goResp, fromPython[b.name], "Python")
			code, stdout := runCLI(t, cli, flagsOf(b.req)...)
			assert.Equal(t, b.code.ExitStatus(), code, "CLI exit status")
			assert.Equal(t, goResp+"\n", stdout, "CLI, flags")
			doc, err := json.Marshal(b.req)
			require.NoError(t, err)
			code, stdout = runCLIStdin(t, cli, doc, "score", "--request", "-")
			assert.Equal(t, b.code.ExitStatus(), code)
			assert.Equal(t, goResp+"\n", stdout, "CLI, --request")
		})
	}
	for _, g := range garbage {
		name := g["name"].(string)
		t.Run(name, func(t *testing.T) {
			var doc []byte
			switch {
			case g["raw"] != nil:
				doc = []byte(g["raw"].(string))
			case g["hex"] != nil:
				doc, _ = hex.DecodeString(g["hex"].(string))
			case g["huge"] != nil:
				doc = bytes.Repeat([]byte("{"), g["huge"].(int))
			}
			var want string
			if g["null"] != nil {
				want = `{"error":{"code":"bad_request","message":"request is NULL"}}`
			} else {
				want = string(scoring.ScoreJSON(ctx, doc))
				code, stdout := runCLIStdin(t, cli, doc, "score", "--request", "-")
				assert.Equal(t, want+"\n", stdout, "CLI")
				assert.NotZero(t, code)
			}
			if i := bytes.IndexByte(doc, 0); i >= 0 {
				// A C string ends at its first NUL: the library sees only that much.
				want = string(scoring.ScoreJSON(ctx, doc[:i]))
			}
			assert.Equal(t, want, fromPython[name], "Python")
			var e struct{ Error scoring.Error }
			require.NoError(t, json.Unmarshal([]byte(want), &e), want)
			assert.NotEmpty(t, e.Error.Code, "an error response")
		})
	}
	timing("Go and CLI on the bad inputs")
}

// TestAnswerRecoversPanics: a panic while scoring comes back as an error
// response, never into the host.
func TestAnswerRecoversPanics(t *testing.T) {
	defer func(f func(context.Context, []byte) *scoring.Response) { score = f }(score)
	score = func(context.Context, []byte) *scoring.Response { panic(errors.New("boom")) }
	got := string(answer(true, []byte(`{}`)))
	assert.Equal(t, `{"error":{"code":"internal","message":"scoring panicked (a bug; please report it with the request): boom"}}`, got)
	assert.Equal(t, `{"error":{"code":"bad_request","message":"request is NULL"}}`, string(answer(false, nil)))
}

func find(t *testing.T, results []scored, w uint64, miner string) scored {
	t.Helper()
	for _, r := range results {
		if r.Window == w && r.Miner == miner {
			return r
		}
	}
	t.Fatalf("no slice of %s in window %d", miner, w)
	return scored{}
}

func edit(r *scoring.Request, f func(*scoring.Request)) *scoring.Request {
	c := *r
	c.Aggregates = append([]string(nil), r.Aggregates...)
	f(&c)
	return &c
}

// flagsOf is the command line of `bistro score` for r.
func flagsOf(r *scoring.Request) []string {
	args := []string{"score"}
	add := func(flag, v string) {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	add("--params", r.Params)
	add("--checkpoint", r.Checkpoint)
	for _, a := range r.Aggregates {
		add("--aggregate", a)
	}
	add("--lead", r.Lead)
	add("--dataset", r.Dataset)
	add("--dataset-key", r.DatasetKey)
	if r.Window != nil {
		add("--window", strconv.FormatUint(*r.Window, 10))
	}
	add("--hotkey", r.Hotkey)
	add("--seed", r.Seed)
	if r.Slice != "" {
		args = append(args, r.Slice)
	}
	return args
}

func runCLI(t *testing.T, cli string, args ...string) (int, string) {
	return runCLIStdin(t, cli, nil, args...)
}

func runCLIStdin(t *testing.T, cli string, stdin []byte, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(cli, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", cli, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String()
}
