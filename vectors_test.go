package bistro

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	goldenfile "github.com/bistro-go/bistro/internal/golden"
)

// The test vectors of SPEC.md live in testdata/vectors/*.json. The Go tests
// recompute them here; spec/reader.py recomputes them from SPEC.md's rules
// alone. `go test -run Vectors . -args -update` rewrites them after a
// deliberate protocol change.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	goldenfile.JSON(t, filepath.Join("testdata", "vectors", name), v)
}

func seedOf(s string) Hash { return sha256.Sum256([]byte(s)) }

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func TestVectorsHash(t *testing.T) {
	type vec struct {
		Domain string   `json:"domain"`
		Fields hexBytes `json:"fields"`
		Hash   Hash     `json:"hash"`
	}
	var out []vec
	for _, c := range []struct {
		domain string
		build  func(h *hasher)
	}{
		{"bistro/test", func(h *hasher) {}},
		{"bistro/test", func(h *hasher) { h.u8(1); h.u16(0x0203); h.u32(0x04050607); h.u64(0x08090a0b0c0d0e0f) }},
		{"bistro/test", func(h *hasher) { h.f64(-0.1); h.str("héllo"); h.raw([]byte{0xff}) }},
	} {
		h := newHasher(c.domain)
		c.build(h)
		out = append(out, vec{c.domain, hexBytes(h.b[1+len(c.domain):]), h.sum()})
	}
	golden(t, "hash.json", out)
}

func TestVectorsRand(t *testing.T) {
	type vec struct {
		Seed    Hash     `json:"seed"`
		Below   uint64   `json:"below"` // 0: raw Uint64 outputs
		Outputs []uint64 `json:"outputs"`
	}
	var out []vec
	for _, c := range []struct {
		seed  Hash
		below uint64
	}{
		{Hash{}, 0}, {seedOf("a"), 0}, {seedOf("b"), 10}, {seedOf("c"), 1 << 40},
		{seedOf("d"), 1<<63 + 1}, {seedOf("e"), 1 << 63}, {seedOf("f"), 3}, {seedOf("g"), 1},
	} {
		r := NewRand(c.seed)
		v := vec{Seed: c.seed, Below: c.below}
		for i := 0; i < 16; i++ {
			if c.below == 0 {
				v.Outputs = append(v.Outputs, r.Uint64())
			} else {
				v.Outputs = append(v.Outputs, r.Below(c.below))
			}
		}
		out = append(out, v)
	}
	golden(t, "rand.json", out)
}

func TestVectorsParams(t *testing.T) {
	type vec struct {
		Params json.RawMessage `json:"params"`
		Digest Hash            `json:"digest"`
	}
	var out []vec
	a := testParams()
	b := DefaultParams(3)
	b.DatasetPages, b.DatasetDigest, b.GenesisDigest = 1<<40, seedOf("data"), seedOf("genesis")
	b.Model = ModelConfig{Arch: "gpt2/v1", Vocab: 50257, Context: 1024, Embed: 768, Layers: 12, Heads: 12, Hidden: 3072, Parameters: 124439808}
	b.SliceFraction, b.SliceRun = 0.013, 32
	b.BlockTimeMS = 12500
	b.LRScale, b.InnerSteps = LRScaleInverseFraction, 4
	c := b
	c.InnerOptimizer = AdamW()
	c.LR.Base = 3e-4
	d := c
	d.OuterOptimizer = Nesterov(0.7, 0.9)
	for _, p := range []Params{a, b, c, d} {
		var buf bytes.Buffer
		require.NoError(t, WriteParams(&buf, &p))
		out = append(out, vec{json.RawMessage(buf.Bytes()), p.Digest()})
	}
	golden(t, "params.json", out)
}

func TestVectorsWindows(t *testing.T) {
	type vec struct {
		Blocks        uint64    `json:"blocks_per_window"`
		Grace         uint64    `json:"grace"`
		FailoverDelay uint64    `json:"failover_delay"`
		Block         uint64    `json:"block"`
		Window        uint64    `json:"window"`
		Start         *uint64   `json:"start"`
		SeedBlock     *uint64   `json:"seed_block"`
		Deadline      *uint64   `json:"deadline"`
		LastApplied   *uint64   `json:"last_applied"`
		Ranks         []uint64  `json:"ranks"`
		RankDeadlines []*uint64 `json:"rank_deadlines"`
	}
	opt := func(b Block, err error) *uint64 {
		if err != nil {
			return nil
		}
		v := uint64(b)
		return &v
	}
	ranks := []uint64{0, 1, 2, 1<<63 - 1, 1<<64 - 1}
	var out []vec
	for _, c := range []struct{ b, g, fd, block uint64 }{
		{10, 3, 4, 0}, {10, 3, 1, 9}, {10, 3, 4, 10}, {10, 3, 5, 25}, {360, 30, 20, 1_000_000},
		{10, 3, 4, 1<<64 - 1}, {10, 3, 1, 1<<64 - 16}, {1 << 32, 1<<32 - 1, 1, 1<<64 - 1<<33},
	} {
		ws := Windows{Blocks: c.b, Grace: c.g}
		w := ws.Of(Block(c.block))
		v := vec{Blocks: c.b, Grace: c.g, FailoverDelay: c.fd, Block: c.block, Window: w,
			Start: opt(ws.Start(w)), SeedBlock: opt(ws.SeedBlock(w)), Deadline: opt(ws.Deadline(w)), Ranks: ranks}
		if la, ok := ws.LastApplied(w); ok {
			v.LastApplied = &la
		}
		p := DefaultParams(1)
		p.BlocksPerWindow, p.Grace, p.FailoverDelay = c.b, c.g, c.fd
		for _, r := range ranks {
			v.RankDeadlines = append(v.RankDeadlines, opt(p.RankDeadline(w, r)))
		}
		out = append(out, v)
	}
	golden(t, "windows.json", out)
}

func TestVectorsPages(t *testing.T) {
	type vec struct {
		NetUID uint16   `json:"netuid"`
		Window uint64   `json:"window"`
		Hotkey Hotkey   `json:"hotkey"`
		N      int      `json:"n"`
		Total  uint64   `json:"total"`
		Seed   Hash     `json:"seed"`
		IDs    []uint64 `json:"ids"`
	}
	alice, err := KeypairFromURI("//Alice")
	require.NoError(t, err)
	bob, err := KeypairFromURI("//Bob")
	require.NoError(t, err)
	var out []vec
	for _, c := range []struct {
		netuid uint16
		window uint64
		hk     Hotkey
		n      int
		total  uint64
	}{
		{3, 0, alice.Hotkey(), 4, 1000}, {3, 1, alice.Hotkey(), 4, 1000}, {3, 1, bob.Hotkey(), 4, 1000},
		{268, 1 << 40, bob.Hotkey(), 16, 1 << 50}, {1, 7, alice.Hotkey(), 10, 10}, {1, 7, alice.Hotkey(), 3, 7},
	} {
		ids, err := Pages{NetUID: c.netuid}.Assign(c.window, c.hk, c.n, c.total)
		require.NoError(t, err)
		out = append(out, vec{c.netuid, c.window, c.hk, c.n, c.total, PageSeed(c.netuid, c.window, c.hk), ids})
	}
	golden(t, "pages.json", out)
}

func TestVectorsSlices(t *testing.T) {
	type vec struct {
		Seed     Hash     `json:"seed"`
		Fraction float64  `json:"fraction"`
		Run      uint32   `json:"run"`
		Layout   Layout   `json:"layout"`
		Indices  Indices  `json:"indices"`
		Digest   Hash     `json:"layout_digest"`
		Seeds    []Hash   `json:"tensor_seeds"`
		Counts   []uint64 `json:"runs_taken"`
	}
	layout := Layout{
		{Name: "wte", Shape: []int{64, 8}},
		{Name: "h.0.bias", Shape: []int{5}},
		{Name: "scalar", Shape: []int{1}},
		{Name: "h.0.w", Shape: []int{33, 7}},
	}
	var out []vec
	for _, c := range []struct {
		seed Hash
		f    float64
		run  uint32
	}{
		{seedOf("block 40"), 0.05, 1}, {seedOf("block 50"), 0.1, 4}, {seedOf("block 60"), 0.75, 1},
		{seedOf("block 70"), 1, 3}, {seedOf("block 80"), 0.013, 64},
	} {
		s := Slices{Fraction: c.f, Run: c.run}
		ix, err := s.Select(c.seed, layout)
		require.NoError(t, err)
		v := vec{Seed: c.seed, Fraction: c.f, Run: c.run, Layout: layout, Indices: ix, Digest: layout.Digest()}
		for ti, spec := range layout {
			v.Seeds = append(v.Seeds, SliceSeed(c.seed, ti))
			_, k := s.Runs(spec.Len())
			v.Counts = append(v.Counts, k)
		}
		out = append(out, v)
	}
	golden(t, "slices.json", out)
}

func TestVectorsCommitments(t *testing.T) {
	type vec struct {
		Commitment Commitment `json:"commitment"`
		Fields     []hexBytes `json:"fields"`
		Info       hexBytes   `json:"info"`
	}
	var out []vec
	for _, c := range []Commitment{
		r2Commitment(),
		{Params: seedOf("params"), Endpoint: "https://s3.eu-west-1.amazonaws.com", Bucket: "bistro.miner-7", Region: "eu-west-1"},
	} {
		fields, err := c.Fields()
		require.NoError(t, err)
		info, err := EncodeCommitmentInfo(fields)
		require.NoError(t, err)
		v := vec{Commitment: c, Info: info}
		for _, f := range fields {
			v.Fields = append(v.Fields, f)
		}
		out = append(out, v)
	}
	golden(t, "commitments.json", out)
}

func TestVectorsKeys(t *testing.T) {
	type vec struct {
		NetUID           uint16 `json:"netuid"`
		Window           uint64 `json:"window"`
		CheckpointWindow uint64 `json:"checkpoint_window"`
		Hotkey           Hotkey `json:"hotkey"`
		PublicKey        Hash   `json:"public_key"`
		Slice            string `json:"slice"`
		Aggregate        string `json:"aggregate"`
		Checkpoint       string `json:"checkpoint"`
	}
	alice, err := KeypairFromURI("//Alice")
	require.NoError(t, err)
	require.Equal(t, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", alice.Hotkey().String())
	hk := alice.Hotkey()
	v := vec{3, 1234, 1250, hk, Hash(hk), SliceKey(3, 1234, hk), AggregateKey(3, 1234), CheckpointKey(3, 1250)}
	for _, k := range []string{v.Slice, v.Aggregate, v.Checkpoint} {
		require.NoError(t, ValidKey(k))
		require.True(t, strings.HasPrefix(k, "bistro/v1/3/"))
	}
	golden(t, "keys.json", []vec{v})
}

func TestVectorsSchedule(t *testing.T) {
	type vec struct {
		Schedule Schedule  `json:"schedule"`
		Windows  []uint64  `json:"windows"`
		LR       []float64 `json:"lr"`
	}
	ws := []uint64{0, 1, 2, 3, 4, 7, 50, 99, 100, 101, 1 << 40}
	var out []vec
	for _, s := range []Schedule{
		{Kind: ConstantLR, Base: 3e-4},
		{Kind: LinearLR, Base: 0.1, Min: 0.003, Warmup: 4, Total: 100},
		{Kind: LinearLR, Base: 1, Min: 0, Warmup: 0, Total: 7},
	} {
		v := vec{Schedule: s, Windows: ws}
		for _, w := range ws {
			v.LR = append(v.LR, s.At(w))
		}
		out = append(out, v)
	}
	golden(t, "schedule.json", out)
}

func TestVectorsEndpoints(t *testing.T) {
	type vec struct {
		URL          string `json:"url"`
		AllowPrivate bool   `json:"allow_private"`
		OK           bool   `json:"ok"`
	}
	var out []vec
	for _, c := range []struct {
		u     string
		local bool
	}{
		{"https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com", false},
		{"https://s3.example.com:8443/", false}, {"https://S3.Example.COM.", false}, {"https://8.8.8.8", false},
		{"https://[2606:4700::1111]", false}, {"https://bucket.xn--p1ai", false},
		{"http://s3.amazonaws.com", false}, {"https://127.0.0.1:9000", false}, {"https://10.1.2.3", false},
		{"https://172.31.255.255", false}, {"https://169.254.169.254", false}, {"https://100.127.0.1", false},
		{"https://198.19.0.1", false}, {"https://[::ffff:192.168.1.1]", false}, {"https://[fd12::1]", false},
		{"https://[2001:db8::1]", false}, {"https://localhost", false}, {"https://minio", false},
		{"https://nas.local", false}, {"https://x.internal", false}, {"https://2130706433", false},
		{"https://a.b.123", false}, {"https://user@s3.example.com", false}, {"https://s3.example.com/p", false},
		{"https://s3.example.com?x", false}, {"http://127.0.0.1:9000", true}, {"ftp://127.0.0.1", true},
	} {
		_, err := CheckEndpoint(c.u, c.local)
		out = append(out, vec{c.u, c.local, err == nil})
	}
	golden(t, "endpoints.json", out)
}

// vectorFiles are files with a fixed (invalid) signature: the bytes and the
// payload hash are deterministic, so another implementation can reproduce
// them; sr25519 itself is outside the vectors.
func TestVectorsFiles(t *testing.T) {
	type vec struct {
		Layout  Layout          `json:"layout"`
		Kind    string          `json:"kind"`
		NetUID  uint16          `json:"netuid"`
		Window  uint64          `json:"window"`
		Hotkey  Hotkey          `json:"hotkey"`
		Params  Hash            `json:"params"`
		Base    Hash            `json:"base"`
		Seed    Hash            `json:"seed"`
		Theta   Hash            `json:"theta"`
		Manif   []ManifestEntry `json:"manifest"`
		Tensors [][]float32     `json:"tensors"`
		Sig     hexBytes        `json:"signature"`
		Payload Hash            `json:"payload_hash"`
		Bytes   hexBytes        `json:"bytes"`
	}
	alice, err := KeypairFromURI("//Alice")
	require.NoError(t, err)
	bob, err := KeypairFromURI("//Bob")
	require.NoError(t, err)
	layout := Layout{{Name: "w", Shape: []int{2, 3}}, {Name: "b", Shape: []int{2}}}
	sig := bytes.Repeat([]byte{0x11}, 64)
	files := []File{
		{Kind: KindSlice, NetUID: 3, Window: 12, Hotkey: alice.Hotkey(), Params: seedOf("p"), Base: seedOf("base"), Seed: seedOf("seed"),
			Tensors: [][]float32{{0.5, -1.25e-3}, {3}}},
		{Kind: KindAggregate, NetUID: 3, Window: 12, Hotkey: bob.Hotkey(), Params: seedOf("p"), Base: seedOf("base2"), Seed: seedOf("seed"),
			Manifest: []ManifestEntry{{UID: 0, Hotkey: alice.Hotkey(), Payload: seedOf("s0")}, {UID: 9, Hotkey: bob.Hotkey(), Payload: seedOf("s9")}},
			Tensors:  [][]float32{{1e-7, 0}, {-2}}},
		{Kind: KindCheckpoint, NetUID: 3, Window: 50, Hotkey: bob.Hotkey(), Params: seedOf("p"), Base: seedOf("d50"),
			Tensors: [][]float32{{1, 2, 3, 4, 5, 6}, {-0.5, 0.25}}},
	}
	ck := &files[2]
	m, err := NewMemModel(layout)
	require.NoError(t, err)
	for i, v := range ck.Tensors {
		require.NoError(t, m.Write(i, v))
	}
	ck.Theta, err = ThetaHash(m)
	require.NoError(t, err)
	var out []vec
	for _, f := range files {
		f.Signature = sig
		out = append(out, vec{layout, f.Kind, f.NetUID, f.Window, f.Hotkey, f.Params, f.Base, f.Seed, f.Theta, f.Manifest,
			f.Tensors, sig, f.PayloadHash(layout), f.marshal(layout)})
	}
	golden(t, "files.json", out)
}

func TestVectorsState(t *testing.T) {
	type vec struct {
		Layout    Layout      `json:"layout"`
		Theta     [][]float32 `json:"theta"`
		ThetaHash Hash        `json:"theta_hash"`
		Indices   Indices     `json:"indices"`
		Touched   Hash        `json:"touched_hash"`
		Prev      Hash        `json:"prev_state"`
		Payload   Hash        `json:"aggregate_payload"`
		Next      Hash        `json:"next_state"`
	}
	layout := Layout{{Name: "w", Shape: []int{2, 3}}, {Name: "b", Shape: []int{2}}}
	m, err := NewMemModel(layout)
	require.NoError(t, err)
	copy(m.Flat(), []float32{0.1, -0.2, 0.3, 4, 5e-5, 6, 7, -8})
	th, err := ThetaHash(m)
	require.NoError(t, err)
	idx := Indices{{1, 4}, {0}}
	touched, err := TouchedHash(m, idx)
	require.NoError(t, err)
	prev, payload := seedOf("genesis"), seedOf("aggregate payload")
	golden(t, "state.json", []vec{{layout, [][]float32{m.Tensor(0), m.Tensor(1)}, th, idx, touched, prev, payload,
		NextState(prev, payload, touched)}})
}

func TestVectorsAggregate(t *testing.T) {
	type vec struct {
		Strategy string           `json:"strategy"`
		Agg      AggregatorParams `json:"aggregator"`
		Inputs   [][]float32      `json:"inputs"`
		Norms    []float64        `json:"norms"`
		Scales   []float64        `json:"scales"`
		Output   []float32        `json:"output"`
	}
	var out []vec
	for _, c := range []struct {
		agg    AggregatorParams
		inputs [][]float32
	}{
		{AggregatorParams{ClipFactor: 2, Trim: 0.2, MedianBelow: 3}, [][]float32{{1, 2, 3}, {1.5, -2, 0}, {0.9, 2.1, 1e-3}, {100, -100, 50}, {1.1, 1.9, 2.9}}},
		{AggregatorParams{ClipFactor: 1.5, Trim: 0.25, MedianBelow: 5}, [][]float32{{0.1, 0.2}, {0.3, -0.4}, {1e30, -1e30}, {0.2, 0.2}}},
		{AggregatorParams{ClipFactor: 1, Trim: 0.34, MedianBelow: 0}, [][]float32{{1}, {2}, {3}, {-1e30}, {1e30}, {4}}},
		{AggregatorParams{ClipFactor: 2, Trim: 0, MedianBelow: 0}, [][]float32{{0.25, 0}, {0.5, 0}}},
	} {
		a := TrimmedMean{ClipFactor: c.agg.ClipFactor, Trim: c.agg.Trim, MedianBelow: int(c.agg.MedianBelow)}
		norms := make([]float64, len(c.inputs))
		for i, in := range c.inputs {
			norms[i] = Norm([][]float32{in})
		}
		scales := a.Scales(norms)
		dst := make([]float32, len(c.inputs[0]))
		a.Merge(dst, c.inputs, scales)
		out = append(out, vec{TrimmedMeanV1, c.agg, c.inputs, norms, scales, dst})
	}
	golden(t, "aggregate.json", out)
}

func TestVectorsWeights(t *testing.T) {
	type vec struct {
		UIDs    []UID     `json:"uids"`
		Scores  []float64 `json:"scores"`
		OutUIDs []UID     `json:"weight_uids"`
		Weights []uint16  `json:"weights"`
	}
	var out []vec
	for _, s := range [][]float64{{1, 0.5, 0, 0.25}, {0.3, 0.9, 0.6}, {0, 0}, {-1, 2, 1e-6}, {1, 1, 1}} {
		uids := make([]UID, len(s))
		for i := range uids {
			uids[i] = UID(3 * i)
		}
		ou, ow := U16Weights(uids, s)
		out = append(out, vec{uids, s, ou, ow})
	}
	golden(t, "weights.json", out)
}

// TestVectorsInner pins the update rule's arithmetic (SPEC.md §2.2, §2.4,
// §10.1): step_lr per window, the micro-batch bounds of n pages into H, and
// the norm bounds.
func TestVectorsInner(t *testing.T) {
	type vec struct {
		LR            Schedule    `json:"lr"`
		SliceFraction float64     `json:"slice_fraction"`
		LRScale       string      `json:"lr_scale"`
		InnerSteps    uint32      `json:"inner_steps"`
		Pages         int         `json:"pages"`
		ClipNorm      float64     `json:"clip_norm"`
		Checks        CheckParams `json:"checks"`
		Windows       []uint64    `json:"windows"`
		StepLR        []float64   `json:"step_lr"`
		MinNorm       []float64   `json:"min_norm"`
		MaxNorm       []float64   `json:"max_norm"`
		MicroBatches  [][2]int    `json:"micro_batches"`
	}
	ws := []uint64{0, 1, 3, 10, 1 << 40}
	var out []vec
	for _, c := range []struct {
		lr    Schedule
		f     float64
		scale string
		h     uint32
		pages int
		clip  float64
		ch    CheckParams
	}{
		{Schedule{Kind: ConstantLR, Base: 0.5}, 0.25, LRScaleNone, 1, 2, 1, CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}},
		{Schedule{Kind: ConstantLR, Base: 0.5}, 0.25, LRScaleInverseFraction, 2, 2, 1, CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}},
		{Schedule{Kind: LinearLR, Base: 0.1, Min: 0.003, Warmup: 2, Total: 20}, 0.013, LRScaleInverseFraction, 3, 7, 0.7, CheckParams{MaxNormFactor: 1.5, MinNormFactor: 0.1}},
		{Schedule{Kind: ConstantLR, Base: 3e-4}, 0.3, LRScaleInverseFraction, 4, 4, 1, CheckParams{MaxNormFactor: 1.01}},
		{Schedule{Kind: ConstantLR, Base: 1e-3}, 0.05, LRScaleNone, 5, 13, 2.5, CheckParams{MaxNormFactor: 1, MinNormFactor: 0.5}},
	} {
		p := Params{LR: c.lr, SliceFraction: c.f, LRScale: c.scale, InnerSteps: c.h, ClipNorm: c.clip, Checks: c.ch}
		v := vec{LR: c.lr, SliceFraction: c.f, LRScale: c.scale, InnerSteps: c.h, Pages: c.pages, ClipNorm: c.clip, Checks: c.ch, Windows: ws}
		for _, w := range ws {
			v.StepLR = append(v.StepLR, p.StepLR(w))
			lo, hi := NormBounds(&p, w)
			v.MinNorm, v.MaxNorm = append(v.MinNorm, lo), append(v.MaxNorm, hi)
		}
		for k := range int(c.h) {
			lo, hi := MicroBatch(c.pages, int(c.h), k)
			v.MicroBatches = append(v.MicroBatches, [2]int{lo, hi})
		}
		out = append(out, v)
	}
	golden(t, "inner.json", out)
}

// TestVectorsOuter pins the outer step (SPEC.md §2.5): a few windows of
// aggregates applied to a tiny replica by each outer optimizer, with θ, the
// momentum, the touched hash and the state digest after each, and a
// checkpoint of the final replica (its momentum hash and payload hash).
func TestVectorsOuter(t *testing.T) {
	type window struct {
		Indices   Indices     `json:"indices"`
		Aggregate [][]float32 `json:"aggregate"`
		Payload   Hash        `json:"aggregate_payload"`
		Theta     [][]float32 `json:"theta"`
		Momentum  [][]float32 `json:"momentum"`
		Touched   Hash        `json:"touched_hash"`
		State     Hash        `json:"state"`
	}
	type checkpoint struct {
		NetUID       uint16 `json:"netuid"`
		Window       uint64 `json:"window"`
		Hotkey       Hotkey `json:"hotkey"`
		Params       Hash   `json:"params"`
		Theta        Hash   `json:"theta"`
		MomentumHash Hash   `json:"momentum_hash"`
		Payload      Hash   `json:"payload_hash"`
	}
	type vec struct {
		Optimizer  OuterOptimizer `json:"outer_optimizer"`
		Layout     Layout         `json:"layout"`
		Theta0     [][]float32    `json:"theta0"`
		Genesis    Hash           `json:"genesis_state"`
		Windows    []window       `json:"windows"`
		Checkpoint *checkpoint    `json:"checkpoint"`
	}
	bob, err := KeypairFromURI("//Bob")
	require.NoError(t, err)
	layout := Layout{{Name: "w", Shape: []int{2, 3}}, {Name: "b", Shape: []int{2}}}
	theta0 := []float32{0.1, -0.2, 0.3, 4, 5e-5, 6, 7, -8}
	steps := []struct {
		idx Indices
		a   [][]float32
	}{
		{Indices{{1, 4}, {0}}, [][]float32{{0.0123, -3.3e-3}, {1e-7}}},
		{Indices{{0, 1}, {0}}, [][]float32{{-0.25, 0.0071}, {0.3}}},
		{Indices{{1, 5}, {1}}, [][]float32{{1.1e-2, 2.5e-4}, {-6.1e-5}}},
		{Indices{{1, 4}, {0}}, [][]float32{{-0.004, 7e-3}, {0.125}}},
	}
	var out []vec
	for _, opt := range []OuterOptimizer{Nesterov(0.7, 0.9), Nesterov(1.3, 0), Nesterov(0.35, 0.99), OuterPlain()} {
		p := DefaultParams(3)
		p.OuterOptimizer = opt
		m, err := NewMemModel(layout)
		require.NoError(t, err)
		copy(m.Flat(), theta0)
		o, err := NewOuter(&p, layout)
		require.NoError(t, err)
		state := seedOf("genesis")
		v := vec{Optimizer: opt, Layout: layout, Theta0: [][]float32{slices.Clone(m.Tensor(0)), slices.Clone(m.Tensor(1))}, Genesis: state}
		for i, s := range steps {
			payload := seedOf(fmt.Sprintf("aggregate payload %d", i))
			require.NoError(t, ApplyOuter(m, o, s.idx, s.a))
			touched, err := TouchedState(m, o, s.idx)
			require.NoError(t, err)
			state = NextState(state, payload, touched)
			w := window{Indices: s.idx, Aggregate: s.a, Payload: payload, Touched: touched, State: state,
				Theta: [][]float32{slices.Clone(m.Tensor(0)), slices.Clone(m.Tensor(1))}}
			if mom := o.Momentum(); mom != nil {
				w.Momentum = [][]float32{slices.Clone(mom.Tensor(0)), slices.Clone(mom.Tensor(1))}
			}
			v.Windows = append(v.Windows, w)
		}
		if mom := o.Momentum(); mom != nil {
			th, err := ThetaHash(m)
			require.NoError(t, err)
			f := &File{Kind: KindCheckpoint, NetUID: 3, Window: 50, Hotkey: bob.Hotkey(), Params: seedOf("p"), Base: state,
				Theta: th, Tensors: [][]float32{m.Tensor(0), m.Tensor(1)}, Momentum: [][]float32{mom.Tensor(0), mom.Tensor(1)}}
			f.MomentumHash = MomentumHash(layout, f.Momentum)
			v.Checkpoint = &checkpoint{f.NetUID, f.Window, f.Hotkey, f.Params, f.Theta, f.MomentumHash, f.PayloadHash(layout)}
		}
		out = append(out, v)
	}
	golden(t, "outer.json", out)
}
