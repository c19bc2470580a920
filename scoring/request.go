package scoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/bistro-go/bistro"
)

// MaxRequestBytes bounds a request document. Requests name files by path,
// so a real one is a few hundred bytes; anything past this bound is refused
// before it is parsed.
const MaxRequestBytes = 1 << 20

// Request asks for the score of one miner's slice file. Files are named by
// path; the JSON names of the fields are the request format of the C library
// and of `bistro score --request`.
type Request struct {
	// Params is the path of the subnet's Params JSON file.
	Params string `json:"params"`
	// Checkpoint is the path of a checkpoint file holding base(c) for some
	// window c ≤ Window (the lead publishes one every checkpoint_interval
	// windows; a genesis checkpoint holds θ₀).
	Checkpoint string `json:"checkpoint"`
	// Aggregates are the paths of the aggregate files that turn base(c) into
	// base(Window), in window order: the aggregates of windows c−1 … Window−2
	// (none before the network's first window). Empty when the checkpoint is
	// base(Window) itself.
	Aggregates []string `json:"aggregates,omitempty"`
	// Lead, when set, is the SS58 hotkey that must have signed the checkpoint
	// and every aggregate. Without it any valid signature is accepted: the
	// state digest chain still has to end at the base the miner's slice
	// names.
	Lead string `json:"lead,omitempty"`
	// Dataset is the dataset the Params pin: "optics" (the offline Opticks
	// text of the Go distribution, cut as the Params say), "optics:PATH" (the
	// same text at PATH), the path of a token-shard manifest (manifest.json
	// beside its shards), or the URL of a storage holding one (file:///dir;
	// other schemes when the program links their driver).
	Dataset string `json:"dataset"`
	// DatasetKey is the manifest's key in the storage Dataset names by URL
	// (default "manifest.json"); it applies to URLs only.
	DatasetKey string `json:"dataset_key,omitempty"`
	// Window is the window the slice was computed in.
	Window *uint64 `json:"window"`
	// Hotkey is the SS58 hotkey of the miner whose slice this is.
	Hotkey string `json:"hotkey"`
	// Seed is the hash of the window's seed block, 64 hex digits (0x
	// optional), as the chain gives it once finalized.
	Seed string `json:"seed"`
	// Slice is the path of the miner's slice file.
	Slice string `json:"slice"`
}

// fields are the request's JSON fields in order, and whether each is
// required.
var fields = []struct {
	name     string
	required bool
}{
	{"params", true}, {"checkpoint", true}, {"aggregates", false}, {"lead", false}, {"dataset", true},
	{"dataset_key", false}, {"window", true}, {"hotkey", true}, {"seed", true}, {"slice", true},
}

// ParseRequest decodes a request document: one JSON object of at most
// MaxRequestBytes with only the fields of Request, each at most once. A
// field that is missing and one given as null or "" are the same. The error
// is an *Error with code BadRequest.
func ParseRequest(b []byte) (*Request, error) {
	if len(b) > MaxRequestBytes {
		return nil, badRequest("", "request larger than %d bytes", MaxRequestBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("", "request is empty (want a JSON object)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, badRequest("", "request is not a JSON object")
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("", "request is not valid JSON: %s", jsonMessage(err))
		}
		key, _ := tok.(string)
		if !known(key) {
			return nil, badRequest(key, "request has an unknown field %q (want %s)", key, fieldList())
		}
		if _, dup := raw[key]; dup {
			return nil, badRequest(key, "request gives field %q twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest(key, "request is not valid JSON: %s", jsonMessage(err))
		}
		raw[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("", "request is not valid JSON: %s", jsonMessage(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("", "request has data after the JSON object")
	}
	r := &Request{}
	for _, f := range []struct {
		name string
		dst  any
		want string
	}{
		{"params", &r.Params, "a path"},
		{"checkpoint", &r.Checkpoint, "a path"},
		{"aggregates", &r.Aggregates, "an array of paths"},
		{"lead", &r.Lead, "an SS58 address"},
		{"dataset", &r.Dataset, "a dataset"},
		{"dataset_key", &r.DatasetKey, "a key"},
		{"window", &r.Window, "a non-negative integer"},
		{"hotkey", &r.Hotkey, "an SS58 address"},
		{"seed", &r.Seed, "64 hex digits"},
		{"slice", &r.Slice, "a path"},
	} {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return nil, badRequest(f.name, "request field %q is %s, want %s", f.name, describe(v), f.want)
		}
	}
	return r, r.complete()
}

// complete reports the required fields r lacks, all of them at once.
func (r *Request) complete() error {
	have := map[string]bool{
		"params": r.Params != "", "checkpoint": r.Checkpoint != "", "dataset": r.Dataset != "",
		"window": r.Window != nil, "hotkey": r.Hotkey != "", "seed": r.Seed != "", "slice": r.Slice != "",
	}
	var missing []string
	for _, f := range fields {
		if f.required && !have[f.name] {
			missing = append(missing, fmt.Sprintf("%q", f.name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return badRequest(strings.Trim(missing[0], `"`), "request is missing field %s", missing[0])
	default:
		return badRequest(strings.Trim(missing[0], `"`), "request is missing fields %s", strings.Join(missing, ", "))
	}
	for i, a := range r.Aggregates {
		if a == "" {
			return badRequest("aggregates", "request field \"aggregates\" has an empty path at index %d", i)
		}
	}
	if r.DatasetKey != "" && !strings.Contains(r.Dataset, "://") {
		return badRequest("dataset_key", "request field \"dataset_key\" applies to a dataset given by URL, and %q is not one", r.Dataset)
	}
	return nil
}

// parsed are a request's values that are not paths.
type parsed struct {
	window uint64
	hotkey bistro.Hotkey
	seed   bistro.Hash
	lead   *bistro.Hotkey
}

func (r *Request) parse() (*parsed, error) {
	if err := r.complete(); err != nil {
		return nil, err
	}
	in := &parsed{window: *r.Window}
	var err error
	if in.hotkey, err = bistro.ParseHotkey(r.Hotkey); err != nil {
		return nil, badRequest("hotkey", "request field \"hotkey\" is not an SS58 address: %v", err)
	}
	if in.seed, err = bistro.ParseHash(r.Seed); err != nil {
		return nil, badRequest("seed", "request field \"seed\" is not a hash: %v", err)
	}
	if r.Lead != "" {
		lead, err := bistro.ParseHotkey(r.Lead)
		if err != nil {
			return nil, badRequest("lead", "request field \"lead\" is not an SS58 address: %v", err)
		}
		in.lead = &lead
	}
	return in, nil
}

func known(key string) bool {
	for _, f := range fields {
		if f.name == key {
			return true
		}
	}
	return false
}

func fieldList() string {
	var names []string
	for _, f := range fields {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}

// describe names the JSON kind of v for an error message.
func describe(v json.RawMessage) string {
	s := bytes.TrimSpace(v)
	if len(s) == 0 {
		return "empty"
	}
	switch s[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if len(s) > 24 {
		s = append(s[:21:21], "..."...)
	}
	return "the number " + string(s)
}

// jsonMessage is a JSON decoder's error without the package prefix.
func jsonMessage(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Response is the answer to a request: a score, or an error.
type Response struct {
	// Verdict is "pass", "fail" or "slash" (empty with Error).
	Verdict string
	// Value is the score the ledger records (1 or 0 under pass/fail).
	Value float64
	// RelErr is r = ‖Δ_m − Δ_v‖ / ‖Δ_v‖, the relative error of the slice
	// against the recomputation; nil when no comparison was made (a cheap
	// check such as the norm bound failed first) or r is infinite (Δ_v = 0,
	// Δ_m ≠ 0).
	RelErr *float64
	// Reason says why, as the validator logs it.
	Reason string
	// Error is set when the request could not be scored: bad input, with a
	// stable code.
	Error *Error
}

type scoreJSON struct {
	Verdict string   `json:"verdict"`
	Value   float64  `json:"value"`
	RelErr  *float64 `json:"rel_err"`
	Reason  string   `json:"reason"`
}

type errorJSON struct {
	Error *Error `json:"error"`
}

// MarshalJSON writes {"verdict":…,"value":…,"rel_err":…,"reason":…} for a
// score (rel_err null when RelErr is nil) and {"error":{"code":…,
// "message":…,"field":…}} for an error.
func (r *Response) MarshalJSON() ([]byte, error) {
	if r.Error != nil {
		return encode(errorJSON{r.Error})
	}
	s := scoreJSON{Verdict: r.Verdict, Value: r.Value, RelErr: r.RelErr, Reason: r.Reason}
	if s.RelErr != nil && (math.IsNaN(*s.RelErr) || math.IsInf(*s.RelErr, 0)) {
		s.RelErr = nil
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return nil, fmt.Errorf("scoring: score value %v cannot be written as JSON", s.Value)
	}
	return encode(s)
}

// Encode returns the response's JSON: one line, no newline, "<" and ">" in
// messages as themselves. It never fails: a response that cannot be written
// becomes an Internal error.
func (r *Response) Encode() []byte {
	b, err := r.MarshalJSON()
	if err != nil {
		b, _ = encode(errorJSON{&Error{Code: Internal, Message: err.Error()}})
	}
	return b
}

// encode is json.Marshal without HTML escaping: reasons say "<=".
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
