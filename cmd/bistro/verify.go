package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"

	"github.com/bistro-go/bistro"
)

// Rejections verify finds beyond what bistro.Decode checks.
var (
	errThetaMismatch   = errors.New("theta mismatch")
	errGenesisMismatch = errors.New("genesis digest mismatch")
)

// maxLayoutBytes bounds a layout JSON file (MaxTensors entries of a few
// hundred bytes each).
const maxLayoutBytes = 64 << 20

// optUint64 is a uint64 flag that remembers whether it was given.
type optUint64 struct {
	v   uint64
	set bool
}

func (o *optUint64) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatUint(o.v, 10)
}

func (o *optUint64) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return err
	}
	o.v, o.set = v, true
	return nil
}

// check is one line of verify's summary: what was checked and how.
type check struct{ what, result string }

func runVerify(args []string, stdout, stderr io.Writer) int {
	const synopsis = "bistro verify --params P [--window W] [--layout L.json] [--seed HEX] [--base HEX] [--hotkey SS58] FILE"
	fs := newFlagSet("verify", synopsis, stderr)
	paramsPath := fs.String("params", "", "the subnet's Params JSON `file` (required)")
	var window optUint64
	fs.Var(&window, "window", "the `window` the file must be of (default: the file's own)")
	layoutPath := fs.String("layout", "", "the model layout JSON `file`: [{\"name\":…,\"shape\":[…]},…] (default: taken from the file)")
	seedHex := fs.String("seed", "", "the seed block `hash` of the window, for slices and aggregates (default: the file's own, unchecked)")
	baseHex := fs.String("base", "", "the state digest `hash` the file must name as its base")
	hotkeySS58 := fs.String("hotkey", "", "the SS58 `address` that must have signed the file")
	maxBytes := fs.Int64("max-bytes", defaultMaxBytes, "refuse files larger than this many `bytes`")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bistro verify: "+format+"\n", a...)
		fs.Usage()
		return exitUsage
	}
	if *paramsPath == "" {
		return usageErr("--params is required")
	}
	if *maxBytes <= 0 || *maxBytes > math.MaxInt-1 {
		return usageErr("--max-bytes %d out of range", *maxBytes)
	}
	e := &bistro.Expect{}
	var seed bistro.Hash
	if *seedHex != "" {
		if seed, err = bistro.ParseHash(*seedHex); err != nil {
			return usageErr("--seed: %v", err)
		}
		e.Seed = &seed
	}
	if *baseHex != "" {
		base, err := bistro.ParseHash(*baseHex)
		if err != nil {
			return usageErr("--base: %v", err)
		}
		e.Base = &base
	}
	if *hotkeySS58 != "" {
		hk, err := bistro.ParseHotkey(*hotkeySS58)
		if err != nil {
			return usageErr("--hotkey: %v", err)
		}
		e.Hotkey = &hk
	}
	path := pos[0]

	var notes []string
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bistro verify: %s: FAIL [%s]: %s\n", path, errClass(err), oneLine(err))
		for _, n := range notes {
			fmt.Fprintln(stderr, n)
		}
		return exitFail
	}

	p, err := bistro.LoadParams(*paramsPath)
	if err != nil {
		return fail(err)
	}
	e.Params = &p
	b, err := readCapped(path, *maxBytes)
	if err != nil {
		return fail(err)
	}
	// The file's own description gives the kind, and the defaults for what
	// the command line leaves out; Decode below is the judge.
	own, ownLayout, _, err := inspect(b, int(*maxBytes))
	if err != nil {
		return fail(err)
	}
	e.Kind = own.Kind
	isCheckpoint := own.Kind == bistro.KindCheckpoint
	if isCheckpoint && e.Seed != nil {
		return usageErr("--seed applies to slices and aggregates, and %s is a checkpoint", path)
	}
	var checks []check

	e.Window = own.Window
	if window.set {
		e.Window = window.v
		checks = append(checks, check{"window", fmt.Sprintf("%d, as expected", e.Window)})
	} else {
		checks = append(checks, check{"window", fmt.Sprintf("%d, the file's own (pass --window to check it)", e.Window)})
	}

	// modelLayout is false when only a slice's lengths are known.
	modelLayout := true
	switch {
	case *layoutPath != "":
		if e.Layout, err = loadLayout(*layoutPath); err != nil {
			return fail(err)
		}
	case isCheckpoint:
		e.Layout = ownLayout
		notes = append(notes, "note: layout taken from the file")
	default:
		e.Layout, modelLayout = ownLayout, false
		notes = append(notes, fmt.Sprintf("note: layout taken from the file; a %s holds only each tensor's slice length, "+
			"so the slice indices and the model's parameter count were not checked (pass --layout)", own.Kind))
	}
	if modelLayout {
		if n := e.Layout.Len(); n != p.Model.Parameters {
			return fail(fmt.Errorf("%w: the layout has %d parameters, %s says model.parameters %d",
				bistro.ErrLayout, n, *paramsPath, p.Model.Parameters))
		}
		src := *layoutPath
		if src == "" {
			src = "taken from the file"
		}
		checks = append(checks, check{"layout", fmt.Sprintf("%d tensors, %d parameters = model.parameters (%s)",
			len(e.Layout), e.Layout.Len(), src)})
	}

	if !isCheckpoint {
		if e.Seed != nil {
			checks = append(checks, check{"seed", fmt.Sprintf("%s, as expected", seed)})
		} else {
			seed = own.Seed
			checks = append(checks, check{"seed", fmt.Sprintf("%s, the file's own", seed)})
			notes = append(notes, "warning: the seed was taken from the file and not checked against the chain (pass --seed)")
		}
		if modelLayout {
			sel, err := bistro.NewSlices(&p)
			if err != nil {
				return fail(err)
			}
			if e.Indices, err = sel.Select(seed, e.Layout); err != nil {
				return fail(err)
			}
			checks = append(checks, check{"indices", fmt.Sprintf("%d coordinates from %s at the seed", e.Indices.Len(), p.Strategies.Slice)})
		} else {
			// Decode needs only each tensor's length; take the file's.
			e.Indices = make(bistro.Indices, len(own.Tensors))
			for t, v := range own.Tensors {
				e.Indices[t] = make([]uint32, len(v))
			}
		}
	}

	f, err := bistro.Decode(b, e)
	if err != nil {
		return fail(err)
	}
	checks = append(checks, check{"params", fmt.Sprintf("%s, the digest of %s", f.Params, *paramsPath)})
	checks = append(checks, check{"netuid", fmt.Sprintf("%d, as in the params", f.NetUID)})
	if e.Base != nil {
		checks = append(checks, check{"base", fmt.Sprintf("%s, as expected", f.Base)})
	} else {
		checks = append(checks, check{"base", fmt.Sprintf("%s (not checked; pass --base)", f.Base)})
	}
	signer := fmt.Sprintf("valid, by %s", f.Hotkey)
	if e.Hotkey != nil {
		signer += ", as expected"
	}
	checks = append(checks, check{"signature", signer})

	switch f.Kind {
	case bistro.KindSlice:
		if err := bistro.CheckNorm(&p, f.Window, f.Tensors); err != nil {
			return fail(err)
		}
		checks = append(checks, check{"norm", fmt.Sprintf("%.6g, within the bounds of window %d", bistro.Norm(f.Tensors), f.Window)})
	case bistro.KindAggregate:
		checks = append(checks, check{"manifest", fmt.Sprintf("%d entries", len(f.Manifest))})
	case bistro.KindCheckpoint:
		theta, err := thetaOf(e.Layout, f.Tensors)
		if err != nil {
			return fail(err)
		}
		if theta != f.Theta {
			return fail(fmt.Errorf("%w: the tensors hash to %s, the file says %s", errThetaMismatch, theta, f.Theta))
		}
		checks = append(checks, check{"theta", fmt.Sprintf("%s, recomputed", theta)})
		if f.Momentum != nil { // the outer optimizer's momentum (SPEC.md §8.4)
			if mh := bistro.MomentumHash(e.Layout, f.Momentum); mh != f.MomentumHash {
				return fail(fmt.Errorf("%w: the momentum hashes to %s, the file says %s", errThetaMismatch, mh, f.MomentumHash))
			}
			checks = append(checks, check{"momentum", fmt.Sprintf("%s, recomputed", f.MomentumHash)})
		}
		if f.Window == 0 {
			if theta != p.GenesisDigest {
				return fail(fmt.Errorf("%w: window 0 checkpoint θ hash %s, %s says genesis_digest %s",
					errGenesisMismatch, theta, *paramsPath, p.GenesisDigest))
			}
			checks = append(checks, check{"genesis", "θ hash = genesis_digest of the params"})
		}
	}

	fmt.Fprintf(stdout, "OK: %s is a valid %s of netuid %d, window %d\n", path, f.Kind, f.NetUID, f.Window)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, c := range checks {
		fmt.Fprintf(tw, "  %s\t%s\n", c.what, c.result)
	}
	fmt.Fprintf(tw, "  payload hash\t%s\n", f.PayloadHash(e.Layout))
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "bistro verify: %s\n", oneLine(err))
		return exitFail
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	return exitOK
}

// loadLayout reads a layout in its JSON form, [{"name":…,"shape":[…]},…].
func loadLayout(path string) (bistro.Layout, error) {
	b, err := readCapped(path, maxLayoutBytes)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l bistro.Layout
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, bistro.ErrLayout, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: %w: trailing data after the JSON array", path, bistro.ErrLayout)
	}
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// thetaOf is the θ hash of a checkpoint's tensors (SPEC.md §8.4).
func thetaOf(layout bistro.Layout, tensors [][]float32) (bistro.Hash, error) {
	m, err := bistro.NewMemModel(layout)
	if err != nil {
		return bistro.Hash{}, err
	}
	for t, v := range tensors {
		if err := m.Write(t, v); err != nil {
			return bistro.Hash{}, err
		}
	}
	return bistro.ThetaHash(m)
}
