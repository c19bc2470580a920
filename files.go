package bistro

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// File kinds.
const (
	KindSlice      = "slice"
	KindAggregate  = "aggregate"
	KindCheckpoint = "checkpoint"
)

// Sentinel errors of the file decoders; each rejection wraps exactly one, so
// callers branch with errors.Is.
var (
	ErrMalformed     = errors.New("bistro: malformed file")
	ErrNonFinite     = errors.New("bistro: NaN or Inf in file")
	ErrWrongKind     = errors.New("bistro: wrong file kind")
	ErrWrongWindow   = errors.New("bistro: wrong window")
	ErrWrongNetUID   = errors.New("bistro: wrong netuid")
	ErrWrongParams   = errors.New("bistro: wrong params digest")
	ErrWrongBase     = errors.New("bistro: wrong base digest")
	ErrWrongSeed     = errors.New("bistro: wrong seed")
	ErrWrongHotkey   = errors.New("bistro: signed by an unexpected hotkey")
	ErrWrongShape    = errors.New("bistro: tensors do not match the layout")
	ErrWrongProtocol = errors.New("bistro: unknown protocol version")
)

// ManifestEntry names one slice the lead merged into an aggregate.
type ManifestEntry struct {
	UID    UID    `json:"uid"`
	Hotkey Hotkey `json:"hotkey"`
	// Payload is the payload hash of the slice file the lead merged. The
	// payload, not the file's bytes: sr25519 signatures are randomized, and the
	// state digest chain must not depend on them.
	Payload Hash `json:"payload"`
}

// File is the content of a slice, aggregate or checkpoint file (SPEC.md §8).
// Tensors follow the model layout: for slices and aggregates tensor t holds
// the values at the window's slice indices of tensor t; for checkpoints it
// holds the whole tensor.
type File struct {
	Kind   string
	NetUID uint16
	Window uint64
	// Hotkey signed the file: the miner for a slice, the lead otherwise.
	Hotkey Hotkey
	Params Hash
	// Base is the state digest of the model the content refers to: base(w)
	// for a slice, base(w+1) — the state it is applied to — for an aggregate,
	// the state digest of θ for a checkpoint.
	Base Hash
	// Seed is the hash of the window's seed block (slices and aggregates).
	Seed Hash
	// Theta is the SHA-256 of θ (checkpoints, ThetaHash).
	Theta Hash
	// MomentumHash is the SHA-256 of the outer optimizer's momentum
	// (MomentumHash), set on the checkpoints that carry it
	// (CheckpointHasMomentum) and zero on every other file.
	MomentumHash Hash
	// Manifest lists the slices merged (aggregates), sorted by uid.
	Manifest []ManifestEntry
	// Tensors are the values, one slice per layout tensor.
	Tensors [][]float32
	// Momentum is the outer optimizer's momentum, whole tensors in layout
	// order, on the checkpoints that carry it (named MomentumTensorName in
	// the file, after θ's tensors); nil otherwise.
	Momentum [][]float32
	// Signature is the sr25519 signature of PayloadHash by Hotkey.
	Signature []byte
}

// PayloadHash is the hash of everything in f but the signature (SPEC.md
// §8.2). Signatures are randomized, so re-signing a file changes its bytes
// but never its payload hash; the state digest chain uses this hash.
func (f *File) PayloadHash(layout Layout) Hash {
	digests := make([]Hash, 0, len(f.Tensors)+len(f.Momentum))
	for _, v := range f.Tensors {
		digests = append(digests, sha256.Sum256(f32Bytes(v)))
	}
	for _, v := range f.Momentum {
		digests = append(digests, sha256.Sum256(f32Bytes(v)))
	}
	return f.payloadHash(layout, digests)
}

// tensorName is the name of the file's t-th tensor: θ's (or the slice's)
// from layout, then the momentum's.
func tensorName(layout Layout, t int) string {
	switch n := len(layout); {
	case t < n:
		return layout[t].Name
	case t < 2*n:
		return MomentumTensorName(layout[t-n].Name)
	}
	return ""
}

// payloadHash is PayloadHash given the SHA-256 of every tensor's bytes
// (which Decode computes while it reads them).
func (f *File) payloadHash(layout Layout, digests []Hash) Hash {
	h := newHasher("bistro/file")
	h.str(f.Kind)
	h.u32(ProtocolVersion)
	h.u16(f.NetUID)
	h.u64(f.Window)
	h.raw(f.Hotkey[:])
	h.raw(f.Params[:])
	h.raw(f.Base[:])
	h.raw(f.Seed[:])
	h.raw(f.Theta[:])
	if !f.MomentumHash.IsZero() { // only checkpoints that carry a momentum (SPEC.md §8.2)
		h.raw(f.MomentumHash[:])
	}
	h.u32(uint32(len(f.Manifest)))
	for _, e := range f.Manifest {
		h.u16(uint16(e.UID))
		h.raw(e.Hotkey[:])
		h.raw(e.Payload[:])
	}
	h.u32(uint32(len(f.Tensors) + len(f.Momentum)))
	for t, v := range slices.Concat(f.Tensors, f.Momentum) {
		h.str(tensorName(layout, t))
		h.u64(uint64(len(v)))
		h.raw(digests[t][:])
	}
	return h.sum()
}

// f32Bytes views v as its little-endian bytes (every supported platform is
// little-endian; see the init check below).
func f32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

func init() {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) != 1 {
		panic("bistro: big-endian platforms are not supported")
	}
}

// Encode signs f with signer (setting f.Hotkey and f.Signature) and returns
// the safetensors bytes. Tensor names come from layout; a checkpoint's
// tensors take the layout's shapes, the others are 1-D.
func Encode(f *File, layout Layout, signer Signer) ([]byte, error) {
	if len(f.Tensors) != len(layout) {
		return nil, fmt.Errorf("%w: %d tensors for a layout of %d", ErrWrongShape, len(f.Tensors), len(layout))
	}
	for t, v := range f.Tensors {
		if f.Kind == KindCheckpoint && len(v) != layout[t].Len() {
			return nil, fmt.Errorf("%w: tensor %q has %d values, want %d", ErrWrongShape, layout[t].Name, len(v), layout[t].Len())
		}
		if i := firstNonFinite(v); i >= 0 {
			return nil, fmt.Errorf("%w: tensor %q element %d", ErrNonFinite, layout[t].Name, i)
		}
	}
	if len(f.Momentum) > 0 || !f.MomentumHash.IsZero() {
		if f.Kind != KindCheckpoint || len(f.Momentum) != len(layout) || f.MomentumHash.IsZero() {
			return nil, fmt.Errorf("%w: a momentum of %d tensors (hash set: %v) in a %s for a layout of %d",
				ErrWrongShape, len(f.Momentum), !f.MomentumHash.IsZero(), f.Kind, len(layout))
		}
		for t, v := range f.Momentum {
			if len(v) != layout[t].Len() {
				return nil, fmt.Errorf("%w: momentum of tensor %q has %d values, want %d", ErrWrongShape, layout[t].Name, len(v), layout[t].Len())
			}
			if i := firstNonFinite(v); i >= 0 {
				return nil, fmt.Errorf("%w: momentum of tensor %q element %d", ErrNonFinite, layout[t].Name, i)
			}
		}
	}
	f.Hotkey = signer.Hotkey()
	ph := f.PayloadHash(layout)
	sig, err := signer.Sign(ph[:])
	if err != nil {
		return nil, fmt.Errorf("bistro: sign %s file: %w", f.Kind, err)
	}
	f.Signature = sig
	return f.marshal(layout), nil
}

// marshal writes the safetensors bytes: u64 header length, the JSON header
// (metadata first, then tensors in layout order, keys in a fixed order, no
// spaces, padded with spaces to a multiple of 8), then the data.
func (f *File) marshal(layout Layout) []byte {
	var hdr bytes.Buffer
	hdr.WriteString(`{"__metadata__":{`)
	meta := f.metadata()
	for i, kv := range meta {
		if i > 0 {
			hdr.WriteByte(',')
		}
		k, _ := json.Marshal(kv[0])
		v, _ := json.Marshal(kv[1])
		hdr.Write(k)
		hdr.WriteByte(':')
		hdr.Write(v)
	}
	hdr.WriteByte('}')
	off := 0
	all := slices.Concat(f.Tensors, f.Momentum)
	for t, v := range all {
		name, _ := json.Marshal(tensorName(layout, t))
		shape := []int{len(v)}
		if f.Kind == KindCheckpoint {
			shape = layout[t%len(layout)].Shape
		}
		sh, _ := json.Marshal(shape)
		fmt.Fprintf(&hdr, `,%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, name, sh, off, off+4*len(v))
		off += 4 * len(v)
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	out := make([]byte, 8, 8+hdr.Len()+off)
	binary.LittleEndian.PutUint64(out, uint64(hdr.Len()))
	out = append(out, hdr.Bytes()...)
	for _, v := range all {
		out = append(out, f32Bytes(v)...)
	}
	return out
}

// metadata returns the __metadata__ pairs in their canonical order.
func (f *File) metadata() [][2]string {
	m := [][2]string{
		{"bistro", strconv.Itoa(ProtocolVersion)},
		{"kind", f.Kind},
		{"netuid", strconv.FormatUint(uint64(f.NetUID), 10)},
		{"window", strconv.FormatUint(f.Window, 10)},
		{"hotkey", f.Hotkey.String()},
		{"params", f.Params.String()},
		{"base", f.Base.String()},
	}
	switch f.Kind {
	case KindCheckpoint:
		m = append(m, [2]string{"theta", f.Theta.String()})
		if !f.MomentumHash.IsZero() {
			m = append(m, [2]string{"momentum", f.MomentumHash.String()})
		}
	default:
		m = append(m, [2]string{"seed", f.Seed.String()})
	}
	if f.Kind == KindAggregate {
		var b strings.Builder
		for i, e := range f.Manifest {
			if i > 0 {
				b.WriteByte(';')
			}
			fmt.Fprintf(&b, "%d,%s,%s", e.UID, e.Hotkey, e.Payload)
		}
		m = append(m, [2]string{"manifest", b.String()})
	}
	return append(m, [2]string{"signature", hex.EncodeToString(f.Signature)})
}

// Expect is what a reader knows before opening a file; Decode checks the file
// against it. Zero-valued optional fields are not checked.
type Expect struct {
	Kind   string
	Params *Params
	Window uint64
	// Layout is the model's layout (required).
	Layout Layout
	// Indices are the window's slice indices (required for slices and
	// aggregates: they fix every tensor's length exactly).
	Indices Indices
	// Seed, Base and Hotkey, when set, must match.
	Seed   *Hash
	Base   *Hash
	Hotkey *Hotkey
	// MaxManifest bounds an aggregate's manifest (default 4096 entries).
	MaxManifest int
}

// MaxHeaderBytes returns the largest header Decode accepts for e.
func (e *Expect) maxHeader() int {
	n := 4096 + 320*len(e.Layout)
	if e.Kind == KindAggregate {
		n += 128 * e.maxManifest()
	}
	return n
}

func (e *Expect) maxManifest() int {
	if e.MaxManifest > 0 {
		return e.MaxManifest
	}
	return 4096
}

// MaxFileBytes is the largest file Decode accepts for e: readers pass it as
// the byte cap of Storage.Get.
func (e *Expect) MaxFileBytes() int64 {
	n := int64(8 + e.maxHeader())
	perValue := int64(4)
	if e.Kind == KindCheckpoint && e.Params != nil && e.Params.OuterOptimizer.HasState() {
		n += int64(320 * len(e.Layout))
		perValue = 8 // θ and its momentum
	}
	for t, spec := range e.Layout {
		if e.Kind == KindCheckpoint {
			n += perValue * int64(spec.Len())
		} else if t < len(e.Indices) {
			n += 4 * int64(len(e.Indices[t]))
		}
	}
	return n
}

// Decode parses and verifies a protocol file. Sizes are never taken from the
// file on trust: the header is bounded by what e implies, every tensor must
// have exactly the length e implies, and the data must cover the rest of the
// file exactly. Then metadata, digests and the signature are checked. Each
// rejection wraps one sentinel error.
func Decode(b []byte, e *Expect) (*File, error) {
	f, _, _, err := DecodeDigests(b, e)
	return f, err
}

// DecodeDigests is Decode that also returns what it computed on the way,
// so that a caller does not hash the values again: the file's payload hash
// (File.PayloadHash) and a digest of its values alone, ValuesDigest of the
// tensors' SHA-256 — equal for two files exactly when their values are
// (the lead's copy detection; MergeStream's Delta).
func DecodeDigests(b []byte, e *Expect) (*File, Hash, Hash, error) {
	f, payload, digests, err := decode(b, e)
	if err != nil {
		return nil, Hash{}, Hash{}, err
	}
	return f, payload, valuesDigest(digests), nil
}

// ValuesDigest returns H("bistro/values", u32 count ‖ the SHA-256 of each
// tensor's float32 little-endian bytes, in order): a digest of the values
// alone that DecodeDigests gets without hashing them again. It is not
// DeltaHash (a single SHA-256 over all values); use one or the other for
// every contribution of a merge.
func ValuesDigest(values [][]float32) Hash {
	digests := make([]Hash, len(values))
	for t, v := range values {
		digests[t] = sha256.Sum256(f32Bytes(v))
	}
	return valuesDigest(digests)
}

func valuesDigest(digests []Hash) Hash {
	h := newHasher("bistro/values")
	h.u32(uint32(len(digests)))
	for _, d := range digests {
		h.raw(d[:])
	}
	return h.sum()
}

func decode(b []byte, e *Expect) (*File, Hash, []Hash, error) {
	f, digests, err := decodeChecked(b, e)
	if err != nil {
		return nil, Hash{}, nil, err
	}
	ph := f.payloadHash(e.Layout, digests)
	if !Verify(f.Hotkey, ph[:], f.Signature) {
		return nil, Hash{}, nil, fmt.Errorf("%w: %s file of window %d by %s", ErrBadSignature, f.Kind, f.Window, f.Hotkey)
	}
	return f, ph, digests, nil
}

// decodeChecked parses b and checks it against e, all but the signature.
func decodeChecked(b []byte, e *Expect) (*File, []Hash, error) {
	if e == nil || e.Params == nil || len(e.Layout) == 0 {
		return nil, nil, fmt.Errorf("bistro: Decode needs Params and a Layout")
	}
	if e.Kind != KindCheckpoint && len(e.Indices) != len(e.Layout) {
		return nil, nil, fmt.Errorf("bistro: Decode of a %s needs the slice indices", e.Kind)
	}
	if int64(len(b)) > e.MaxFileBytes() {
		return nil, nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), e.MaxFileBytes())
	}
	layout := e.Layout
	withMomentum := e.Kind == KindCheckpoint && CheckpointHasMomentum(e.Params, e.Window)
	if withMomentum {
		layout = momentumLayout(layout)
	}
	want := make([]int, len(layout))
	for t, spec := range layout {
		if e.Kind == KindCheckpoint {
			want[t] = spec.Len()
		} else {
			want[t] = len(e.Indices[t])
		}
	}
	maxHeader := e.maxHeader()
	if withMomentum {
		maxHeader += 320 * len(e.Layout)
	}
	f, digests, err := parse(b, maxHeader, e.maxManifest(), layout, want, e.Kind == KindCheckpoint)
	if err != nil {
		return nil, nil, err
	}
	if n := len(e.Layout); withMomentum {
		f.Tensors, f.Momentum = f.Tensors[:n:n], f.Tensors[n:]
	}
	p := e.Params
	if withMomentum != !f.MomentumHash.IsZero() {
		return nil, nil, fmt.Errorf("%w: a checkpoint of window %d under outer optimizer %q: momentum hash %q",
			ErrMalformed, e.Window, p.OuterOptimizer.Kind, f.MomentumHash)
	}
	switch {
	case f.Kind != e.Kind:
		return nil, nil, fmt.Errorf("%w: %q, want %q", ErrWrongKind, f.Kind, e.Kind)
	case f.NetUID != p.NetUID:
		return nil, nil, fmt.Errorf("%w: %d, want %d", ErrWrongNetUID, f.NetUID, p.NetUID)
	case f.Window != e.Window:
		return nil, nil, fmt.Errorf("%w: %d, want %d", ErrWrongWindow, f.Window, e.Window)
	case f.Params != p.Digest():
		return nil, nil, fmt.Errorf("%w: %s", ErrWrongParams, f.Params)
	case e.Seed != nil && f.Seed != *e.Seed:
		return nil, nil, fmt.Errorf("%w: %s, want %s", ErrWrongSeed, f.Seed, *e.Seed)
	case e.Base != nil && f.Base != *e.Base:
		return nil, nil, fmt.Errorf("%w: %s, want %s", ErrWrongBase, f.Base, *e.Base)
	case e.Hotkey != nil && f.Hotkey != *e.Hotkey:
		return nil, nil, fmt.Errorf("%w: %s, want %s", ErrWrongHotkey, f.Hotkey, *e.Hotkey)
	}
	return f, digests, nil
}

// Inspect parses a protocol file without expectations (for operators'
// tools): layout and lengths are taken from the file, bounded by maxBytes,
// and the signature is checked against the hotkey the file names. The
// returned layout is the file's.
func Inspect(b []byte, maxBytes int) (*File, Layout, bool, error) {
	if len(b) > maxBytes {
		return nil, nil, false, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), maxBytes)
	}
	f, layout, err := parseAny(b, maxBytes)
	if err != nil {
		return nil, nil, false, err
	}
	ph := f.PayloadHash(layout)
	return f, layout, Verify(f.Hotkey, ph[:], f.Signature), nil
}

type tensorHeader struct {
	Dtype   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

// header splits b into its ordered header entries and the data.
func header(b []byte, maxHeader int) (meta map[string]string, names []string, tensors map[string]tensorHeader, data []byte, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) < 8 {
		return nil, nil, nil, nil, bad("%d bytes, shorter than the header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(maxHeader) {
		return nil, nil, nil, nil, fmt.Errorf("%w: header of %d bytes > %d", ErrTooLarge, n, maxHeader)
	}
	if n > uint64(len(b)-8) {
		return nil, nil, nil, nil, bad("header of %d bytes in a file of %d", n, len(b))
	}
	hdr, data := b[8:8+n], b[8+n:]
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, nil, nil, bad("header is not a JSON object")
	}
	tensors = map[string]tensorHeader{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, nil, bad("header: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, nil, nil, nil, bad("header key %q repeated", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			if meta, err = stringMap(dec); err != nil {
				return nil, nil, nil, nil, bad("metadata: %v", err)
			}
			continue
		}
		var th tensorHeader
		if err := dec.Decode(&th); err != nil {
			return nil, nil, nil, nil, bad("tensor %q: %v", key, err)
		}
		names = append(names, key)
		tensors[key] = th
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, nil, nil, bad("header: %v", err)
	}
	if rest := bytes.TrimRight(hdr[dec.InputOffset():], " "); len(rest) != 0 {
		return nil, nil, nil, nil, bad("%d bytes after the header object", len(rest))
	}
	if meta == nil {
		return nil, nil, nil, nil, bad("no __metadata__")
	}
	return meta, names, tensors, data, nil
}

// parse decodes a file whose tensors must match layout with lengths want. It
// returns the SHA-256 of every tensor's bytes too: each byte of the data is
// read once, copied, checked finite and hashed a chunk at a time while the
// chunk is in cache.
func parse(b []byte, maxHeader, maxManifest int, layout Layout, want []int, fullShape bool) (*File, []Hash, error) {
	meta, names, th, data, err := header(b, maxHeader)
	if err != nil {
		return nil, nil, err
	}
	if len(names) != len(layout) {
		return nil, nil, fmt.Errorf("%w: %d tensors, layout has %d", ErrWrongShape, len(names), len(layout))
	}
	f, err := parseMeta(meta, maxManifest)
	if err != nil {
		return nil, nil, err
	}
	type span struct{ t, a, b int }
	spans := make([]span, 0, len(layout))
	for t, spec := range layout {
		h, ok := th[spec.Name]
		if !ok {
			return nil, nil, fmt.Errorf("%w: tensor %q missing", ErrWrongShape, spec.Name)
		}
		if h.Dtype != "F32" {
			return nil, nil, fmt.Errorf("%w: tensor %q has dtype %q, want F32", ErrWrongShape, spec.Name, h.Dtype)
		}
		wantShape := []int64{int64(want[t])}
		if fullShape {
			wantShape = wantShape[:0]
			for _, d := range spec.Shape {
				wantShape = append(wantShape, int64(d))
			}
		}
		if !slices.Equal(h.Shape, wantShape) {
			return nil, nil, fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrWrongShape, spec.Name, h.Shape, wantShape)
		}
		if len(h.Offsets) != 2 || h.Offsets[1] < h.Offsets[0] || h.Offsets[1]-h.Offsets[0] != 4*uint64(want[t]) ||
			h.Offsets[1] > uint64(len(data)) {
			return nil, nil, fmt.Errorf("%w: tensor %q has data offsets %v for %d values in %d bytes", ErrMalformed, spec.Name, h.Offsets, want[t], len(data))
		}
		spans = append(spans, span{t, int(h.Offsets[0]), int(h.Offsets[1])})
	}
	// The spans must tile the data exactly: no gaps, overlaps or trailing bytes.
	slices.SortFunc(spans, func(x, y span) int { return x.a - y.a })
	at := 0
	for _, s := range spans {
		if s.a != at {
			return nil, nil, fmt.Errorf("%w: tensor data does not tile the data section at byte %d", ErrMalformed, at)
		}
		at = s.b
	}
	if at != len(data) {
		return nil, nil, fmt.Errorf("%w: %d bytes of data after the tensors", ErrMalformed, len(data)-at)
	}
	f.Tensors = make([][]float32, len(layout))
	digests := make([]Hash, len(layout))
	// Large files are read on up to GOMAXPROCS goroutines, a tensor each at a
	// time (SHA-256 is sequential within a tensor); the first bad tensor in
	// layout order is the error, whatever the schedule.
	errs := make([]error, len(layout))
	read := func(s span) {
		v := make([]float32, (s.b-s.a)/4)
		if err := readTensor(v, data[s.a:s.b], &digests[s.t]); err != nil {
			errs[s.t] = fmt.Errorf("%w: tensor %q %v", ErrNonFinite, layout[s.t].Name, err)
		}
		f.Tensors[s.t] = v
	}
	if workers := min(runtime.GOMAXPROCS(0), len(spans)); len(data) < 1<<20 || workers < 2 {
		for _, s := range spans {
			read(s)
		}
	} else {
		// Largest first, so the last tensor to start is a small one.
		order := slices.Clone(spans)
		slices.SortStableFunc(order, func(x, y span) int { return (y.b - y.a) - (x.b - x.a) })
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(order); i = int(next.Add(1) - 1) {
					read(order[i])
				}
			})
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return f, digests, nil
}

// readChunk is how many bytes readTensor copies, checks and hashes at once:
// small enough to stay in L1/L2 between the three.
const readChunk = 32 << 10

// readTensor copies the little-endian float32 bytes src into dst (the
// platform is little-endian), rejects a NaN or Inf, and sets sum to the
// SHA-256 of src.
func readTensor(dst []float32, src []byte, sum *Hash) error {
	h := sha256.New()
	out := f32Bytes(dst)
	for at := 0; at < len(src); at += readChunk {
		end := min(at+readChunk, len(src))
		copy(out[at:end], src[at:end])
		if i := firstNonFinite(dst[at/4 : end/4]); i >= 0 {
			return fmt.Errorf("element %d", at/4+i)
		}
		h.Write(src[at:end])
	}
	h.Sum(sum[:0])
	return nil
}

// parseAny decodes a file taking its layout from the header (names in header
// order).
func parseAny(b []byte, maxBytes int) (*File, Layout, error) {
	_, names, th, _, err := header(b, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	layout := make(Layout, 0, len(names))
	want := make([]int, 0, len(names))
	for _, n := range names {
		h := th[n]
		shape := make([]int, len(h.Shape))
		for i, d := range h.Shape {
			if d <= 0 || d > MaxTensorLen {
				return nil, nil, fmt.Errorf("%w: tensor %q dimension %d", ErrMalformed, n, d)
			}
			shape[i] = int(d)
		}
		layout = append(layout, TensorSpec{Name: n, Shape: shape})
		want = append(want, layout[len(layout)-1].Len())
	}
	if err := layout.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	f, _, err := parse(b, maxBytes, maxBytes/64, layout, want, true)
	if err != nil {
		return nil, nil, err
	}
	return f, layout, nil
}

// stringMap decodes a JSON object of strings, refusing repeated keys (which
// parsers resolve differently).
func stringMap(dec *json.Decoder) (map[string]string, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	m := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := dec.Token()
		if err != nil {
			return nil, err
		}
		ks, _ := k.(string)
		vs, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q is not a string", ks)
		}
		if _, dup := m[ks]; dup {
			return nil, fmt.Errorf("key %q repeated", ks)
		}
		m[ks] = vs
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return m, nil
}

func parseMeta(m map[string]string, maxManifest int) (*File, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if m["bistro"] != strconv.Itoa(ProtocolVersion) {
		return nil, fmt.Errorf("%w: %q", ErrWrongProtocol, m["bistro"])
	}
	f := &File{Kind: m["kind"]}
	allowed := map[string]bool{"bistro": true, "kind": true, "netuid": true, "window": true, "hotkey": true,
		"params": true, "base": true, "signature": true}
	switch f.Kind {
	case KindSlice:
		allowed["seed"] = true
	case KindAggregate:
		allowed["seed"], allowed["manifest"] = true, true
	case KindCheckpoint:
		allowed["theta"] = true
		// The momentum hash is there exactly when the Params say so
		// (CheckpointHasMomentum); Decode checks that.
		if _, ok := m["momentum"]; ok {
			allowed["momentum"] = true
		}
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrWrongKind, f.Kind)
	}
	for k := range m {
		if !allowed[k] {
			return nil, bad("metadata key %q not allowed in a %s", k, f.Kind)
		}
	}
	for k := range allowed {
		if _, ok := m[k]; !ok {
			return nil, bad("metadata key %q missing", k)
		}
	}
	netuid, err := strconv.ParseUint(m["netuid"], 10, 16)
	if err != nil {
		return nil, bad("netuid %q", m["netuid"])
	}
	f.NetUID = uint16(netuid)
	if f.Window, err = strconv.ParseUint(m["window"], 10, 64); err != nil {
		return nil, bad("window %q", m["window"])
	}
	if f.Hotkey, err = ParseHotkey(m["hotkey"]); err != nil {
		return nil, bad("hotkey: %v", err)
	}
	for _, h := range []struct {
		key string
		dst *Hash
	}{{"params", &f.Params}, {"base", &f.Base}, {"seed", &f.Seed}, {"theta", &f.Theta}, {"momentum", &f.MomentumHash}} {
		if v, ok := m[h.key]; ok {
			if *h.dst, err = ParseHash(v); err != nil {
				return nil, bad("%s: %v", h.key, err)
			}
		}
	}
	if _, ok := m["momentum"]; ok && f.MomentumHash.IsZero() {
		return nil, bad("momentum hash is zero")
	}
	if f.Signature, err = hex.DecodeString(m["signature"]); err != nil || len(f.Signature) != 64 {
		return nil, fmt.Errorf("%w: signature is not 64 hex bytes", ErrBadSignature)
	}
	if s := m["manifest"]; s != "" {
		entries := strings.Split(s, ";")
		if len(entries) > maxManifest {
			return nil, fmt.Errorf("%w: manifest of %d entries > %d", ErrTooLarge, len(entries), maxManifest)
		}
		for _, e := range entries {
			parts := strings.Split(e, ",")
			if len(parts) != 3 {
				return nil, bad("manifest entry %q", e)
			}
			uid, err := strconv.ParseUint(parts[0], 10, 16)
			if err != nil {
				return nil, bad("manifest uid %q", parts[0])
			}
			hk, err := ParseHotkey(parts[1])
			if err != nil {
				return nil, bad("manifest hotkey: %v", err)
			}
			sum, err := ParseHash(parts[2])
			if err != nil {
				return nil, bad("manifest hash: %v", err)
			}
			if n := len(f.Manifest); n > 0 && f.Manifest[n-1].UID >= UID(uid) {
				return nil, bad("manifest not sorted by uid at %d", uid)
			}
			f.Manifest = append(f.Manifest, ManifestEntry{UID(uid), hk, sum})
		}
	}
	return f, nil
}

// firstNonFinite returns the index of the first NaN or Inf in v, or −1. It
// tests 8 values per step, a pair per 64-bit word (a value is not finite
// exactly when its exponent bits are all set): after XOR with the exponent
// mask such a value's exponent field is zero, which the borrow of a
// subtraction detects without a branch per value.
func firstNonFinite(v []float32) int {
	const exp = 0x7f800000_7f800000
	i := 0
	if n := len(v) &^ 7; n > 0 {
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&v[0])), n/2)
		for k := 0; k < len(w); k += 4 {
			if bad(w[k]&exp^exp)|bad(w[k+1]&exp^exp)|bad(w[k+2]&exp^exp)|bad(w[k+3]&exp^exp) != 0 {
				i = 2 * k
				break
			}
			i = 2 * (k + 4)
		}
	}
	for ; i < len(v); i++ {
		if b := math.Float32bits(v[i]); b&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// bad is non-zero when a 32-bit half of x (holding only exponent bits, as
// firstNonFinite passes it) is zero: the subtraction borrows into that
// half's top bit, which no exponent bit occupies.
func bad(x uint64) uint64 {
	return (x - 0x00000001_00000001) & 0x80000000_80000000 &^ x
}
