package bistro

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testParams returns valid Params with every field set.
func testParams() Params {
	p := DefaultParams(7)
	p.PageLength = 256
	p.DatasetPages = 1000
	p.DatasetDigest = Hash{1, 2, 3}
	p.GenesisDigest = Hash{4, 5, 6}
	p.Model = ModelConfig{Arch: "mlp/v1", Vocab: 256, Context: 4, Embed: 8, Hidden: 64, Parameters: 2048 + 32*64 + 64 + 64*256 + 256}
	p.LR = Schedule{Kind: LinearLR, Base: 0.5, Min: 0.05, Warmup: 2, Total: 100}
	return p
}

func TestParamsValidate(t *testing.T) {
	p := testParams()
	require.NoError(t, p.Validate())
	adamw := testParams()
	adamw.InnerOptimizer = AdamW()
	require.NoError(t, adamw.Validate())

	cases := []struct {
		name   string
		mutate func(p *Params)
		want   string
	}{
		{"protocol", func(p *Params) { p.Protocol = 2 }, "protocol 2"},
		{"B too small", func(p *Params) { p.BlocksPerWindow = 1 }, "blocks_per_window 1 < 2"},
		{"B huge", func(p *Params) { p.BlocksPerWindow = 1<<32 + 1 }, "> 2^32"},
		{"G zero", func(p *Params) { p.Grace = 0 }, "grace 0"},
		{"G >= B", func(p *Params) { p.Grace = p.BlocksPerWindow }, "grace 10 >= blocks_per_window 10"},
		{"block time", func(p *Params) { p.BlockTimeMS = 0 }, "block_time_ms 0"},
		{"block time huge", func(p *Params) { p.BlockTimeMS = MaxTimeMS + 1 }, "block_time_ms 86400001"},
		{"upload time", func(p *Params) { p.UploadTimeMS = 0 }, "upload_time_ms 0"},
		{"merge time", func(p *Params) { p.MergeTimeMS = MaxTimeMS + 1 }, "merge_time_ms"},
		{"upload over grace", func(p *Params) { p.UploadTimeMS = 36001 }, "grace 3 blocks × block_time_ms 12000 = 36000 ms < upload_time_ms 36001"},
		{"no merge room", func(p *Params) { p.FinalityLag = 7 }, "grace 3 + finality_lag 7 >= blocks_per_window 10"},
		{"merge over budget", func(p *Params) { p.MergeTimeMS = 60001 }, "= 60000 ms < merge_time_ms 60001"},
		{"failover zero", func(p *Params) { p.FailoverDelay = 0 }, "failover_delay 0"},
		{"failover past window", func(p *Params) { p.FailoverDelay = 6 }, "grace 3 + finality_lag 2 + failover_delay 6 > blocks_per_window 10"},
		{"failover huge", func(p *Params) { p.FailoverDelay = math.MaxUint64 }, "failover_delay 18446744073709551615 > blocks_per_window 10"},
		{"failover under merge", func(p *Params) { p.MergeTimeMS = 48001 }, "failover_delay 4 blocks × block_time_ms 12000 = 48000 ms < merge_time_ms 48001"},
		{"lr scale unknown", func(p *Params) { p.LRScale = "inverse" }, `lr_scale "inverse" unknown`},
		{"lr scale empty", func(p *Params) { p.LRScale = "" }, `lr_scale "" unknown`},
		{"inner steps zero", func(p *Params) { p.InnerSteps = 0 }, "inner_steps 0 not in [1, pages_per_window 4]"},
		{"inner steps over pages", func(p *Params) { p.InnerSteps = 5 }, "inner_steps 5 not in [1, pages_per_window 4]"},
		{"inner optimizer unknown", func(p *Params) { p.InnerOptimizer.Kind = "adam" }, `inner_optimizer.kind "adam" unknown`},
		{"inner optimizer empty", func(p *Params) { p.InnerOptimizer = InnerOptimizer{} }, `inner_optimizer.kind "" unknown`},
		{"sgd with constants", func(p *Params) { p.InnerOptimizer.Beta1 = 0.9 }, `inner_optimizer "sgd" takes no constants`},
		{"adamw beta1", func(p *Params) { p.InnerOptimizer = AdamW(); p.InnerOptimizer.Beta1 = 1 }, "inner_optimizer.beta1 1 not in [0, 1)"},
		{"adamw beta2", func(p *Params) { p.InnerOptimizer = AdamW(); p.InnerOptimizer.Beta2 = -0.5 }, "inner_optimizer.beta2 -0.5 not in [0, 1)"},
		{"adamw beta2 NaN", func(p *Params) { p.InnerOptimizer = AdamW(); p.InnerOptimizer.Beta2 = nan() }, "inner_optimizer.beta2 NaN"},
		{"adamw eps", func(p *Params) { p.InnerOptimizer = AdamW(); p.InnerOptimizer.Eps = 0 }, "inner_optimizer.eps 0 not > 0"},
		{"adamw weight decay", func(p *Params) { p.InnerOptimizer = AdamW(); p.InnerOptimizer.WeightDecay = -1 }, "inner_optimizer.weight_decay -1"},
		{"outer optimizer unknown", func(p *Params) { p.OuterOptimizer.Kind = "nesterov" }, `outer_optimizer.kind "nesterov" unknown (want "sgd" or "nesterov/v1")`},
		{"outer optimizer empty", func(p *Params) { p.OuterOptimizer = OuterOptimizer{} }, `outer_optimizer.kind "" unknown`},
		{"outer sgd with constants", func(p *Params) { p.OuterOptimizer.LR = 0.7 }, `outer_optimizer "sgd" takes no constants (lr 0.7, momentum 0`},
		{"nesterov lr 0", func(p *Params) { p.OuterOptimizer = Nesterov(0, 0.9) }, "outer_optimizer.lr 0 not > 0"},
		{"nesterov lr Inf", func(p *Params) { p.OuterOptimizer = Nesterov(math.Inf(1), 0.9) }, "outer_optimizer.lr +Inf not > 0"},
		{"nesterov lr NaN", func(p *Params) { p.OuterOptimizer = Nesterov(nan(), 0.9) }, "outer_optimizer.lr NaN not > 0"},
		{"nesterov momentum 1", func(p *Params) { p.OuterOptimizer = Nesterov(0.7, 1) }, "outer_optimizer.momentum 1 not in [0, 1)"},
		{"nesterov momentum negative", func(p *Params) { p.OuterOptimizer = Nesterov(0.7, -0.1) }, "outer_optimizer.momentum -0.1 not in [0, 1)"},
		{"nesterov momentum -0", func(p *Params) { p.OuterOptimizer = Nesterov(0.7, math.Copysign(0, -1)) }, "outer_optimizer.momentum is negative"},
		{"adamw negative zero", func(p *Params) { p.InnerOptimizer = AdamW(); p.InnerOptimizer.WeightDecay = math.Copysign(0, -1) },
			"inner_optimizer.weight_decay is negative"},
		{"pages zero", func(p *Params) { p.PagesPerWindow = 0 }, "pages_per_window 0"},
		{"pages many", func(p *Params) { p.PagesPerWindow = MaxPagesPerWindow + 1 }, "pages_per_window 65537"},
		{"negative zero", func(p *Params) { p.Checks.MinNormFactor = math.Copysign(0, -1) }, "checks.min_norm_factor is negative"},
		{"negative zero trim", func(p *Params) { p.Aggregator.Trim = math.Copysign(0, -1) }, "aggregator.trim is negative"},
		{"page length", func(p *Params) { p.PageLength = 1 }, "page_length 1"},
		{"dataset small", func(p *Params) { p.DatasetPages = 3 }, "dataset_pages 3 < pages_per_window 4"},
		{"dataset digest", func(p *Params) { p.DatasetDigest = Hash{} }, "dataset_digest unset"},
		{"f zero", func(p *Params) { p.SliceFraction = 0 }, "slice_fraction 0"},
		{"f above 1", func(p *Params) { p.SliceFraction = 1.5 }, "slice_fraction 1.5"},
		{"f NaN", func(p *Params) { p.SliceFraction = nan() }, "slice_fraction NaN"},
		{"run zero", func(p *Params) { p.SliceRun = 0 }, "slice_run 0"},
		{"clip", func(p *Params) { p.ClipNorm = 0 }, "clip_norm 0"},
		{"arch", func(p *Params) { p.Model.Arch = "" }, "model.arch of 0 bytes"},
		{"parameters", func(p *Params) { p.Model.Parameters = 0 }, "model.parameters"},
		{"genesis", func(p *Params) { p.GenesisDigest = Hash{} }, "genesis_digest"},
		{"clip factor", func(p *Params) { p.Aggregator.ClipFactor = 0.5 }, "clip_factor 0.5"},
		{"trim", func(p *Params) { p.Aggregator.Trim = 0.5 }, "trim 0.5"},
		{"max norm", func(p *Params) { p.Checks.MaxNormFactor = 0.9 }, "max_norm_factor 0.9"},
		{"min norm", func(p *Params) { p.Checks.MinNormFactor = 1 }, "min_norm_factor 1"},
		{"K zero", func(p *Params) { p.CheckpointInterval = 0 }, "checkpoint_interval 0"},
		{"retention", func(p *Params) { p.Retention = 99 }, "retention 99 < 2 × checkpoint_interval 50"},
		{"lr base", func(p *Params) { p.LR.Base = 0 }, "lr.base 0"},
		{"lr min", func(p *Params) { p.LR.Min = 1 }, "lr.min 1 not in [0, base 0.5]"},
		{"lr total", func(p *Params) { p.LR.Total = 2 }, "lr.total 2 <= lr.warmup 2"},
		{"lr kind", func(p *Params) { p.LR.Kind = "cosine" }, `lr.kind "cosine" unknown`},
		{"window strategy", func(p *Params) { p.Strategies.Window = "window/v9" }, `strategies.window "window/v9"`},
		{"pages strategy", func(p *Params) { p.Strategies.Pages = "" }, `strategies.pages ""`},
		{"slice strategy", func(p *Params) { p.Strategies.Slice = "x" }, `strategies.slice "x"`},
		{"aggregator strategy", func(p *Params) { p.Strategies.Aggregator = "median" }, `strategies.aggregator "median"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := testParams()
			c.mutate(&q)
			before := q
			err := q.Validate()
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidParams), "wraps ErrInvalidParams: %v", err)
			assert.Contains(t, err.Error(), c.want)
			assert.Equal(t, before.Digest(), q.Digest(), "Validate must not change Params")
		})
	}
}

func nan() float64 { var z float64; return z / z }

// TestParamsDigestSensitivity changes every leaf field of Params in turn,
// found by reflection so a new field cannot be forgotten, and checks that
// the digest changes.
func TestParamsDigestSensitivity(t *testing.T) {
	base := testParams()
	d0 := base.Digest()
	assert.Equal(t, d0, base.Digest(), "digest is deterministic")
	visited := map[string]bool{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
			return
		case reflect.Array: // Hash
			old := v.Index(31).Uint()
			v.Index(31).SetUint(old ^ 0xff)
			check(t, &base, d0, path)
			v.Index(31).SetUint(old)
		case reflect.String:
			old := v.String()
			v.SetString(old + "x")
			check(t, &base, d0, path)
			v.SetString(old)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			old := v.Uint()
			v.SetUint(old + 1)
			check(t, &base, d0, path)
			v.SetUint(old)
		case reflect.Float64:
			old := v.Float()
			v.SetFloat(old*1.0000001 + 1e-9)
			check(t, &base, d0, path)
			v.SetFloat(old)
		default:
			t.Fatalf("%s: kind %s not covered by the digest test", path, v.Kind())
		}
		visited[path] = true
	}
	walk(reflect.ValueOf(&base).Elem(), "Params")
	assert.Equal(t, d0, base.Digest(), "restored")
	assert.GreaterOrEqual(t, len(visited), 42, "every leaf field visited")
	assert.True(t, visited["Params.FailoverDelay"], "failover_delay is in the digest")
	assert.True(t, visited["Params.LRScale"], "lr_scale is in the digest")
	assert.True(t, visited["Params.InnerSteps"], "inner_steps is in the digest")
	for _, f := range []string{"Kind", "Beta1", "Beta2", "Eps", "WeightDecay"} {
		assert.True(t, visited["Params.InnerOptimizer."+f], "inner_optimizer.%s is in the digest", f)
	}
	for _, f := range []string{"Kind", "LR", "Momentum"} {
		assert.True(t, visited["Params.OuterOptimizer."+f], "outer_optimizer.%s is in the digest", f)
	}
}

func check(t *testing.T, p *Params, d0 Hash, path string) {
	t.Helper()
	assert.NotEqual(t, d0, p.Digest(), "changing %s must change the digest", path)
}

func TestParamsJSONRoundTrip(t *testing.T) {
	p := testParams()
	var buf bytes.Buffer
	require.NoError(t, WriteParams(&buf, &p))
	assert.Contains(t, buf.String(), `"block_time_ms": 12000`)
	q, err := ReadParams(&buf)
	require.NoError(t, err)
	assert.Equal(t, p, q)
	assert.Equal(t, p.Digest(), q.Digest())

	path := filepath.Join(t.TempDir(), "params.json")
	var b bytes.Buffer
	require.NoError(t, WriteParams(&b, &p))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	r, err := LoadParams(path)
	require.NoError(t, err)
	assert.Equal(t, p, r)

	bad := testParams()
	bad.Grace = 0
	assert.ErrorIs(t, WriteParams(&bytes.Buffer{}, &bad), ErrInvalidParams, "invalid params are not written")
}

func TestReadParamsRejects(t *testing.T) {
	p := testParams()
	good, err := json.Marshal(&p)
	require.NoError(t, err)
	cases := map[string]string{
		"unknown field": strings.Replace(string(good), `{"protocol"`, `{"protocl":1,"protocol"`, 1),
		"trailing":      string(good) + `{}`,
		"not json":      `protocol: 1`,
		"string time":   strings.Replace(string(good), `"block_time_ms":12000`, `"block_time_ms":"12s"`, 1),
		"float in int":  strings.Replace(string(good), `"block_time_ms":12000`, `"block_time_ms":12000.5`, 1),
		"case":          strings.Replace(string(good), `"netuid"`, `"NetUID"`, 1),
		"missing":       strings.Replace(string(good), `"finality_lag":2,`, ``, 1),
		"missing inner": strings.Replace(string(good), `"median_below":5`, `"x":5`, 1),
		"repeated":      strings.Replace(string(good), `"netuid":7`, `"netuid":7,"netuid":8`, 1),
		"bad hash":      strings.Replace(string(good), `"dataset_digest":"`, `"dataset_digest":"zz`, 1),
		"too large":     string(good) + strings.Repeat(" ", MaxParamsBytes),
		"invalid":       strings.Replace(string(good), `"grace":3`, `"grace":30`, 1),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, string(good), doc, "the case changes the document")
			_, err := ReadParams(strings.NewReader(doc))
			assert.ErrorIs(t, err, ErrInvalidParams)
		})
	}
	_, err = LoadParams(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestSchedule(t *testing.T) {
	s := Schedule{Kind: LinearLR, Base: 1, Min: 0.1, Warmup: 3, Total: 13}
	assert.Equal(t, 0.25, s.At(0))
	assert.Equal(t, 1.0, s.At(3))
	assert.InDelta(t, 0.55, s.At(8), 1e-15)
	assert.Equal(t, 0.1, s.At(13))
	assert.Equal(t, 0.1, s.At(1<<63))
	c := Schedule{Kind: ConstantLR, Base: 0.3}
	assert.Equal(t, 0.3, c.At(12345))
}
