package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/bistro-go/bistro"
)

// defaultMaxBytes is the default --max-bytes of inspect and verify.
const defaultMaxBytes = 8 << 30

func runInspect(args []string, stdout, stderr io.Writer) int {
	const synopsis = "bistro inspect [--json] [--max-bytes N] [--require-valid] FILE"
	fs := newFlagSet("inspect", synopsis, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	maxBytes := fs.Int64("max-bytes", defaultMaxBytes, "refuse files larger than this many `bytes`")
	requireValid := fs.Bool("require-valid", false, "exit 1 when the signature does not verify")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return exitUsage
	}
	if *maxBytes <= 0 || *maxBytes > math.MaxInt-1 {
		fmt.Fprintf(stderr, "bistro inspect: --max-bytes %d out of range\n", *maxBytes)
		return exitUsage
	}
	path := pos[0]
	b, err := readCapped(path, *maxBytes)
	if err != nil {
		fmt.Fprintf(stderr, "bistro inspect: %s\n", oneLine(err))
		return exitFail
	}
	f, layout, sigOK, err := inspect(b, int(*maxBytes))
	if err != nil {
		fmt.Fprintf(stderr, "bistro inspect: %s: %s: %s\n", path, errClass(err), oneLine(err))
		return exitFail
	}
	r := newReport(path, b, f, layout, sigOK)
	if *asJSON {
		err = writeJSON(stdout, r)
	} else {
		err = r.write(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bistro inspect: %s\n", oneLine(err))
		return exitFail
	}
	if !sigOK && *requireValid {
		fmt.Fprintf(stderr, "bistro inspect: %s: signature INVALID: it does not verify under %s\n", path, f.Hotkey)
		return exitFail
	}
	return exitOK
}

// inspect is bistro.Inspect of a file already read within maxBytes. A
// header length beyond the file is reported as malformed, as Decode would,
// rather than as too large: that is what a file that is no safetensors file
// at all looks like.
func inspect(b []byte, maxBytes int) (*bistro.File, bistro.Layout, bool, error) {
	if len(b) >= 8 {
		if n := binary.LittleEndian.Uint64(b); n > uint64(len(b)-8) {
			return nil, nil, false, fmt.Errorf("%w: header of %d bytes in a file of %d (not a safetensors file?)",
				bistro.ErrMalformed, n, len(b))
		}
	}
	return bistro.Inspect(b, maxBytes)
}

// report is what inspect prints about a file; its JSON form is the --json
// output.
type report struct {
	File        string                 `json:"file"`
	Bytes       int                    `json:"bytes"`
	SHA256      bistro.Hash            `json:"sha256"` // of the file's bytes (a manifest names the payload hash)
	Kind        string                 `json:"kind"`
	NetUID      uint16                 `json:"netuid"`
	Window      uint64                 `json:"window"`
	Hotkey      bistro.Hotkey          `json:"hotkey"`
	Params      bistro.Hash            `json:"params"`
	Base        bistro.Hash            `json:"base"`
	Seed        *bistro.Hash           `json:"seed,omitempty"`     // slices and aggregates
	Theta       *bistro.Hash           `json:"theta,omitempty"`    // checkpoints
	Manifest    []bistro.ManifestEntry `json:"manifest,omitempty"` // aggregates
	Tensors     []tensorStats          `json:"tensors"`
	Values      uint64                 `json:"values"`
	Norm        float64                `json:"norm"` // L2 norm of all values
	PayloadHash bistro.Hash            `json:"payload_hash"`
	Signature   string                 `json:"signature"` // "valid" or "INVALID"
	SignatureOK bool                   `json:"signature_valid"`
}

type tensorStats struct {
	Name  string  `json:"name"`
	Shape []int   `json:"shape"`
	Len   int     `json:"len"`
	Min   float32 `json:"min"`
	Max   float32 `json:"max"`
	Norm  float64 `json:"norm"`
}

func newReport(path string, b []byte, f *bistro.File, layout bistro.Layout, sigOK bool) *report {
	r := &report{
		File: path, Bytes: len(b), SHA256: sha256.Sum256(b),
		Kind: f.Kind, NetUID: f.NetUID, Window: f.Window, Hotkey: f.Hotkey, Params: f.Params, Base: f.Base,
		Manifest: f.Manifest, Norm: bistro.Norm(f.Tensors), PayloadHash: f.PayloadHash(layout),
		Signature: "valid", SignatureOK: sigOK,
	}
	if !sigOK {
		r.Signature = "INVALID"
	}
	if f.Kind == bistro.KindCheckpoint {
		r.Theta = &f.Theta
	} else {
		r.Seed = &f.Seed
	}
	for t, v := range f.Tensors {
		s := tensorStats{Name: layout[t].Name, Shape: layout[t].Shape, Len: len(v), Norm: bistro.Norm([][]float32{v})}
		for i, x := range v {
			if i == 0 || x < s.Min {
				s.Min = x
			}
			if i == 0 || x > s.Max {
				s.Max = x
			}
		}
		r.Tensors = append(r.Tensors, s)
		r.Values += uint64(len(v))
	}
	return r
}

func (r *report) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s (%d bytes)\n", r.File, r.Bytes)
	fmt.Fprintf(tw, "sha256\t%s\n", r.SHA256)
	fmt.Fprintf(tw, "kind\t%s\n", r.Kind)
	fmt.Fprintf(tw, "netuid\t%d\n", r.NetUID)
	fmt.Fprintf(tw, "window\t%d\n", r.Window)
	fmt.Fprintf(tw, "hotkey\t%s\n", r.Hotkey)
	fmt.Fprintf(tw, "params\t%s\n", r.Params)
	fmt.Fprintf(tw, "base\t%s\n", r.Base)
	if r.Seed != nil {
		fmt.Fprintf(tw, "seed\t%s\n", *r.Seed)
	}
	if r.Theta != nil {
		fmt.Fprintf(tw, "theta\t%s\n", *r.Theta)
	}
	fmt.Fprintf(tw, "payload hash\t%s\n", r.PayloadHash)
	if r.SignatureOK {
		fmt.Fprintf(tw, "signature\tvalid (by %s)\n", r.Hotkey)
	} else {
		fmt.Fprintf(tw, "signature\tINVALID (does not verify under %s)\n", r.Hotkey)
	}
	if r.Kind == bistro.KindAggregate {
		fmt.Fprintf(tw, "manifest\t%d entries\n", len(r.Manifest))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Manifest) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "uid\thotkey\tsha256")
		for _, e := range r.Manifest {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", e.UID, e.Hotkey, e.Payload)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\n%d tensors, %d values, L2 norm %.6g\n", len(r.Tensors), r.Values, r.Norm)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "name\tshape\tlen\tmin\tmax\tnorm")
	for _, s := range r.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.6g\t%.6g\t%.6g\n", s.Name, shapeString(s.Shape), s.Len, s.Min, s.Max, s.Norm)
	}
	return tw.Flush()
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
