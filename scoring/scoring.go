// Package scoring scores one miner's slice file as a validator does, from
// files named in a JSON request, and answers with a JSON response. It is the
// one implementation behind `bistro score`, the C library (cmd/libbistro)
// and its Python binding (python/libbistro.py): the three give the same
// answer, byte for byte, for the same request.
//
// A request names the Params, the base — a checkpoint, plus the aggregates
// that lead from it to base(window) — the window, the miner's hotkey, the
// seed block's hash, the dataset and the slice file:
//
//	{"params": "params.json", "checkpoint": "checkpoints/4.safetensors",
//	 "aggregates": ["3/aggregate.safetensors", "4/aggregate.safetensors"],
//	 "dataset": "optics", "window": 6, "hotkey": "5Cyn2nMW…", "seed": "9f2c…",
//	 "slice": "6/5Cyn2nMW….safetensors"}
//
// and the answer is a score,
//
//	{"verdict":"pass","value":1,"rel_err":0,"reason":"rel err 0 <= tau 0.05"}
//
// or, on bad input, an error with a stable code (see Code):
//
//	{"error":{"code":"wrong_window","message":"slice …: bistro: wrong window: 5, want 6","field":"slice"}}
//
// The checks come in a validator's order: the request, the Params, the slice
// (size bound, format, finite values, window, netuid, Params digest, seed,
// signature by the miner), the base (the checkpoint's signature and θ hash,
// each aggregate's window, signature and place in the state digest chain),
// the slice's base digest against the replayed base(window), the dataset
// against the Params; then bistro.ScoreSlice recomputes the miner's update
// and compares (the norm bound, then pass/fail by relative error).
//
// From Go, with files at hand:
//
//	resp := scoring.Score(ctx, &scoring.Request{Params: "params.json", …})
//	fmt.Printf("%s\n", resp.Encode())
//
// With the model and the slice already in memory, call bistro.ScoreSlice.
package scoring

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// Options tune how requests are scored; the zero value is the default. They
// never change an answer: recomputation is bit-identical at any number of
// workers.
type Options struct {
	// Workers bounds the goroutines of one recomputation (the trainer's
	// Workers); 0 means GOMAXPROCS. 1 keeps all the work on the calling
	// goroutine, where ScoreDocument can recover a panic: the C library's
	// choice (its callers get parallelism by calling from several threads).
	Workers int
}

// ScoreJSON answers a request document with a response document (one line
// of JSON, no newline) under the default Options.
func ScoreJSON(ctx context.Context, request []byte) []byte {
	return Options{}.ScoreDocument(ctx, request).Encode()
}

// ScoreDocument parses a request document (ParseRequest) and scores it under
// the default Options; see Options.ScoreDocument.
func ScoreDocument(ctx context.Context, request []byte) *Response {
	return Options{}.ScoreDocument(ctx, request)
}

// ScoreDocument parses a request document (ParseRequest) and scores it. It
// never returns nil and never lets a panic of the calling goroutine out: a
// panic while scoring becomes an Internal error whose message says so.
func (o Options) ScoreDocument(ctx context.Context, request []byte) (resp *Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = Recovered(r)
		}
	}()
	req, err := ParseRequest(request)
	if err != nil {
		return &Response{Error: asError(err)}
	}
	return o.Score(ctx, req)
}

// Recovered is the response for a recovered panic value r.
func Recovered(r any) *Response {
	msg := fmt.Sprintf("scoring panicked (a bug; please report it with the request): %v", r)
	return &Response{Error: &Error{Code: Internal, Message: msg}}
}

// Score scores the request under the default Options. It never returns nil:
// bad input is a Response with Error set.
func Score(ctx context.Context, req *Request) *Response {
	return Options{}.Score(ctx, req)
}

// Score scores the request. It never returns nil: bad input is a Response
// with Error set.
func (o Options) Score(ctx context.Context, req *Request) *Response {
	resp, err := o.score(ctx, req)
	if err != nil {
		return &Response{Error: asError(err)}
	}
	return resp
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: err.Error(), err: err}
}

func (o Options) score(ctx context.Context, req *Request) (*Response, error) {
	if req == nil {
		return nil, badRequest("", "no request")
	}
	in, err := req.parse()
	if err != nil {
		return nil, err
	}
	pb, err := readCapped(req.Params, bistro.MaxParamsBytes)
	if err != nil {
		return nil, fileError("params", req.Params, err, BadParams)
	}
	p, err := bistro.ReadParams(bytes.NewReader(pb))
	if err != nil {
		return nil, fileError("params", req.Params, err, BadParams)
	}
	trainer, layout, err := newTrainer(&p, o.Workers)
	if err != nil {
		return nil, fileError("params", req.Params, err, BadParams)
	}
	sel, err := bistro.NewSlices(&p)
	if err != nil {
		return nil, fileError("params", req.Params, err, BadParams)
	}
	idx, err := sel.Select(in.seed, layout)
	if err != nil {
		return nil, fileError("params", req.Params, err, BadParams)
	}

	// The slice first: what a validator checks on every miner, every window.
	e := &bistro.Expect{Kind: bistro.KindSlice, Params: &p, Window: in.window, Layout: layout, Indices: idx,
		Seed: &in.seed, Hotkey: &in.hotkey}
	b, err := readCapped(req.Slice, e.MaxFileBytes())
	if err != nil {
		return nil, fileError("slice", req.Slice, err, Internal)
	}
	slice, err := bistro.Decode(b, e)
	if err != nil {
		return nil, fileError("slice", req.Slice, err, Internal)
	}

	base, state, err := LoadBase(&p, layout, in.window, req.Checkpoint, req.Aggregates, in.lead)
	if err != nil {
		return nil, err
	}
	if slice.Base != state {
		err := fmt.Errorf("%w: the slice names %s, base(%d) replayed from the checkpoint and aggregates is %s",
			bistro.ErrWrongBase, slice.Base, in.window, state)
		return nil, fileError("slice", req.Slice, err, Internal)
	}

	ds, err := OpenDataset(ctx, &p, req.Dataset, req.DatasetKey)
	if err != nil {
		return nil, fileError("dataset", req.Dataset, err, BadDataset)
	}
	rec := &recorder{Scorer: bistro.DefaultPassFail()}
	s, err := bistro.ScoreSlice(ctx, &p, base, trainer, ds, rec,
		bistro.SliceInput{Window: in.window, Hotkey: in.hotkey, Seed: in.seed, Values: slice.Tensors})
	if err != nil {
		if errors.Is(err, bistro.ErrNoPage) || errors.Is(err, data.ErrDigest) || errors.Is(err, data.ErrManifest) {
			return nil, fileError("dataset", req.Dataset, err, BadDataset)
		}
		return nil, &Error{Code: Internal, Message: fmt.Sprintf("recompute: %v", err), err: err}
	}
	return &Response{Verdict: s.Verdict.String(), Value: s.Value, RelErr: rec.relErr, Reason: s.Reason}, nil
}

// recorder is the validator's Scorer that also keeps the relative error of
// the comparison it made, computed as bistro.PassFail does.
type recorder struct {
	bistro.Scorer
	relErr *float64
}

func (r *recorder) Score(miner, validator [][]float32) bistro.Score {
	var diff, nv float64
	same := len(miner) == len(validator)
	for t := 0; same && t < len(miner); t++ {
		if len(miner[t]) != len(validator[t]) {
			same = false
			break
		}
		for i, a := range miner[t] {
			x, y := float64(a), float64(validator[t][i])
			diff += (x - y) * (x - y)
			nv += y * y
		}
	}
	if same {
		diff, nv = math.Sqrt(diff), math.Sqrt(nv)
		var rel float64
		switch {
		case nv > 0:
			rel = diff / nv
		case diff > 0:
			rel = math.Inf(1)
		}
		if !math.IsInf(rel, 0) && !math.IsNaN(rel) {
			r.relErr = &rel
		}
	}
	return r.Scorer.Score(miner, validator)
}

// NewTrainer returns the trainer and the layout of the model p names
// (mlp/v1 or gpt2/v1), checking the layout against p.Model.Parameters.
func NewTrainer(p *bistro.Params) (bistro.Trainer, bistro.Layout, error) {
	return newTrainer(p, 0)
}

func newTrainer(p *bistro.Params, workers int) (bistro.Trainer, bistro.Layout, error) {
	var (
		tr     bistro.Trainer
		layout bistro.Layout
		err    error
	)
	switch p.Model.Arch {
	case train.MLPArch:
		tr = &train.MLP{Workers: workers}
		layout, err = train.MLPLayout(p.Model)
	case train.GPTArch:
		var g train.GPT
		if g, err = train.NewGPT(p.Model); err == nil {
			g.Workers = workers
			tr = g
			layout, err = train.GPTLayout(p.Model)
		}
	default:
		return nil, nil, fmt.Errorf("%w: model.arch %q has no trainer here (want %s or %s)",
			bistro.ErrInvalidParams, p.Model.Arch, train.MLPArch, train.GPTArch)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: model: %w", bistro.ErrInvalidParams, err)
	}
	if n := layout.Len(); n != p.Model.Parameters {
		return nil, nil, fmt.Errorf("%w: the %s layout has %d parameters, model.parameters says %d",
			bistro.ErrInvalidParams, p.Model.Arch, n, p.Model.Parameters)
	}
	return tr, layout, nil
}

// LoadBase rebuilds base(w): it loads the checkpoint at path checkpoint
// (base(c), c ≤ w) and replays the aggregates at paths aggregates — those of
// windows c−1 … w−2 that the pipeline applies, in order — as participants
// do: each aggregate must be of its window, name the state digest reached so
// far, carry a valid signature (by lead when lead is set) and is applied at
// the slice indices of its own seed; the digest then steps with the
// aggregate's payload hash and the touched hash. An aggregate's seed is the
// one it names: the digest chain, which covers it, ends where the miner's
// slice says, or the slice is refused. It returns the model and its state
// digest d(w). Errors are *Error.
func LoadBase(p *bistro.Params, layout bistro.Layout, w uint64, checkpoint string, aggregates []string, lead *bistro.Hotkey) (*bistro.MemModel, bistro.Hash, error) {
	win, err := bistro.NewWindows(p)
	if err != nil {
		return nil, bistro.Hash{}, fileError("params", "", err, BadParams)
	}
	sel, err := bistro.NewSlices(p)
	if err != nil {
		return nil, bistro.Hash{}, fileError("params", "", err, BadParams)
	}

	e := &bistro.Expect{Kind: bistro.KindCheckpoint, Params: p, Layout: layout, Hotkey: lead}
	b, err := readCapped(checkpoint, e.MaxFileBytes())
	if err != nil {
		return nil, bistro.Hash{}, fileError("checkpoint", checkpoint, err, Internal)
	}
	// The window the file gives is only where to start: Decode checks it
	// with everything else.
	e.Window = w
	if c, err := strconv.ParseUint(metadata(b)["window"], 10, 64); err == nil {
		e.Window = c
	}
	ck, err := bistro.Decode(b, e)
	if err != nil {
		return nil, bistro.Hash{}, fileError("checkpoint", checkpoint, err, Internal)
	}
	ckErr := func(format string, a ...any) error {
		return fileError("checkpoint", checkpoint, fmt.Errorf(format, a...), Internal)
	}
	if ck.Window > w {
		return nil, bistro.Hash{}, ckErr("%w: the checkpoint holds base(%d), newer than window %d", bistro.ErrWrongWindow, ck.Window, w)
	}
	model, err := bistro.NewMemModel(layout)
	if err != nil {
		return nil, bistro.Hash{}, ckErr("%w", err)
	}
	for t, v := range ck.Tensors {
		if err := model.Write(t, v); err != nil {
			return nil, bistro.Hash{}, ckErr("%w", err)
		}
	}
	theta, err := bistro.ThetaHash(model)
	if err != nil {
		return nil, bistro.Hash{}, ckErr("%w", err)
	}
	if theta != ck.Theta {
		return nil, bistro.Hash{}, ckErr("%w: θ hashes to %s, the checkpoint says %s", bistro.ErrWrongBase, theta, ck.Theta)
	}
	if ck.Base == p.GenesisDigest && theta != p.GenesisDigest {
		return nil, bistro.Hash{}, ckErr("%w: the checkpoint names the genesis state but θ hashes to %s, not genesis_digest %s",
			bistro.ErrWrongBase, theta, p.GenesisDigest)
	}
	// The outer optimizer's momentum moves with θ (bistro.StepState); the
	// checkpoint carries it, but for the genesis one (zero).
	outer, err := bistro.NewOuter(p, layout)
	if err != nil {
		return nil, bistro.Hash{}, fileError("params", "", err, BadParams)
	}
	if ck.Momentum != nil {
		if mh := bistro.MomentumHash(layout, ck.Momentum); mh != ck.MomentumHash {
			return nil, bistro.Hash{}, ckErr("%w: the momentum hashes to %s, the checkpoint says %s", bistro.ErrWrongBase, mh, ck.MomentumHash)
		}
	}
	if err := outer.SetMomentum(ck.Momentum); err != nil {
		return nil, bistro.Hash{}, ckErr("%w", err)
	}

	// The aggregates base(w) needs: those in base(w) and not in base(c).
	// Counted, not enumerated: the request's window is not trusted to be
	// near the checkpoint's.
	var start, count uint64
	if end, ok := win.LastApplied(w); ok {
		start = p.FirstWindow
		if prev, ok := win.LastApplied(ck.Window); ok {
			start = prev + 1
		}
		if end >= start {
			count = end - start + 1
		}
	}
	if uint64(len(aggregates)) != count {
		var needs string
		switch count {
		case 0:
			needs = "needs no aggregates"
		case 1:
			needs = fmt.Sprintf("needs the aggregate of window %d", start)
		default:
			needs = fmt.Sprintf("needs the aggregates of windows %d…%d in order (%d)", start, start+count-1, count)
		}
		return nil, bistro.Hash{}, badRequest("aggregates", "base(%d) from the checkpoint of window %d %s; the request names %d",
			w, ck.Window, needs, len(aggregates))
	}
	state := ck.Base
	for i, path := range aggregates {
		field := fmt.Sprintf("aggregates[%d]", i)
		seed, _ := bistro.ParseHash(metadata(headerOnly(path))["seed"])
		idx, err := sel.Select(seed, layout)
		if err != nil {
			return nil, bistro.Hash{}, fileError(field, path, err, Internal)
		}
		e := &bistro.Expect{Kind: bistro.KindAggregate, Params: p, Window: start + uint64(i), Layout: layout, Indices: idx,
			Seed: &seed, Base: &state, Hotkey: lead}
		b, err := readCapped(path, e.MaxFileBytes())
		if err != nil {
			return nil, bistro.Hash{}, fileError(field, path, err, Internal)
		}
		agg, err := bistro.Decode(b, e)
		if err != nil {
			return nil, bistro.Hash{}, fileError(field, path, err, Internal)
		}
		if state, err = bistro.StepState(model, outer, state, idx, agg); err != nil {
			return nil, bistro.Hash{}, fileError(field, path, err, Internal)
		}
	}
	return model, state, nil
}

// metadata returns the __metadata__ strings of a safetensors header, or nil
// when b does not start with one. It reads hints (a checkpoint's window, an
// aggregate's seed) that bistro.Decode then checks.
func metadata(b []byte) map[string]string {
	if len(b) < 8 {
		return nil
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) || n > 1<<24 {
		return nil
	}
	var h struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if json.Unmarshal(b[8:8+n], &h) != nil {
		return nil
	}
	return h.Meta
}

// headerOnly reads the header of the file at path (at most 16 MiB), or nil.
func headerOnly(path string) []byte {
	if regular(path) != nil {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var n [8]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		return nil
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > 1<<24 {
		return nil
	}
	b := make([]byte, 8+size)
	copy(b, n[:])
	if _, err := io.ReadFull(f, b[8:]); err != nil {
		return nil
	}
	return b
}

// readCapped reads the file at path, refusing one of more than max bytes
// before reading it (and one that grows past max while it is read).
func readCapped(path string, max int64) ([]byte, error) {
	// Stat before opening: opening a FIFO would block the caller.
	if err := regular(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %d bytes > %d, the most this file can have under the Params", bistro.ErrTooLarge, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: grew past %d bytes while read", bistro.ErrTooLarge, max)
	}
	return b, nil
}

// regular reports errNotRegular unless path names a regular file (after
// symbolic links).
func regular(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errNotRegular
	}
	return nil
}

// OpenDataset opens the dataset spec names (see Request.Dataset; key is
// Request.DatasetKey) and checks that it is the one p pins: its digest, at
// least p.DatasetPages training pages, p.PageLength tokens a page.
func OpenDataset(ctx context.Context, p *bistro.Params, spec, key string) (bistro.Dataset, error) {
	var (
		ds  bistro.Dataset
		err error
	)
	switch {
	case spec == "optics" || strings.HasPrefix(spec, "optics:"):
		path := strings.TrimPrefix(strings.TrimPrefix(spec, "optics"), ":")
		var all *data.OpticsDataset
		if all, err = data.OpenOptics(data.OpticsOptions{Path: path, PageLength: int(p.PageLength)}); err != nil {
			return nil, err
		}
		// The Params give the training pages; the rest of the text is held out.
		if p.DatasetPages > all.Pages() {
			return nil, fmt.Errorf("the Opticks text has %d pages of %d, the Params want %d training pages",
				all.Pages(), p.PageLength, p.DatasetPages)
		}
		ds, err = data.OpenOptics(data.OpticsOptions{Path: path, PageLength: int(p.PageLength),
			HeldOut: int(all.Pages() - p.DatasetPages)})
	case strings.Contains(spec, "://"):
		if key == "" {
			key = "manifest.json"
		}
		ds, err = data.OpenManifestURL(ctx, spec, key, p.DatasetDigest, data.ShardOptions{})
	default:
		abs, aerr := filepath.Abs(spec)
		if aerr != nil {
			return nil, aerr
		}
		// Stat first: the directory store would create a missing folder.
		fi, serr := os.Stat(abs)
		if serr != nil {
			return nil, serr
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: want the path of a manifest file", errNotRegular)
		}
		st, derr := dir.New(filepath.Dir(abs))
		if derr != nil {
			return nil, derr
		}
		ds, err = data.OpenManifest(ctx, st, filepath.Base(abs), p.DatasetDigest, data.ShardOptions{})
	}
	if err != nil {
		return nil, err
	}
	if err := CheckDataset(p, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// CheckDataset reports whether ds is the dataset p pins: its digest, at
// least p.DatasetPages training pages, p.PageLength tokens a page.
func CheckDataset(p *bistro.Params, ds bistro.Dataset) error {
	if ds.Digest() != p.DatasetDigest || ds.Pages() < p.DatasetPages || ds.PageLength() != int(p.PageLength) {
		return fmt.Errorf("the dataset (digest %s, %d pages of %d) is not the one the Params pin (%s, %d pages of %d)",
			ds.Digest(), ds.Pages(), ds.PageLength(), p.DatasetDigest, p.DatasetPages, p.PageLength)
	}
	return nil
}
