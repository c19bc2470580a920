package llmc_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/llmc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// header returns the 256 int32 words that start every llm.c file.
func header(t *testing.T, b []byte) []int32 {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 1024)
	h := make([]int32, 256)
	require.NoError(t, binary.Read(bytes.NewReader(b[:1024]), binary.LittleEndian, h))
	return h
}

// floats reads b as little-endian float32s.
func floats(b []byte) []float32 {
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// The checkpoint has llm.c's header and its 16 tensors in its order and
// orientation: weights [out, in], wte padded to Vp rows of zeros.
func TestWriteCheckpoint(t *testing.T) {
	cfg, err := train.NewGPTConfig(200, 8, 16, 2, 2, 0)
	require.NoError(t, err)
	m, err := train.InitGPT(cfg, bistro.Hash{9})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, llmc.WriteCheckpoint(&buf, cfg, m))
	h := header(t, buf.Bytes())
	assert.Equal(t, []int32{20240326, 3, 8, 200, 2, 2, 16, 256}, h[:8])
	for _, w := range h[8:] {
		require.Zero(t, w)
	}
	const v, vp, c, l, maxT = 200, 256, 16, 2, 8
	p := floats(buf.Bytes()[1024:])
	want := vp*c + maxT*c + l*(c+c+3*c*c+3*c+c*c+c+c+c+4*c*c+4*c+4*c*c+c) + 2*c
	require.Len(t, p, want)
	tensor := func(name string) []float32 { return m.Tensor(m.Layout().Index(name)) }

	assert.Equal(t, tensor("wte.weight"), p[:v*c])
	for _, x := range p[v*c : vp*c] {
		require.Zero(t, x)
	}
	off := vp * c
	assert.Equal(t, tensor("wpe.weight"), p[off:off+maxT*c])
	off += maxT*c + 2*l*c // ln1w, ln1b
	// qkvw (L, 3C, C): layer 1, output o, input i is c_attn.weight[i][o].
	qkv1 := p[off+3*c*c : off+2*3*c*c]
	attn1 := tensor("h.1.attn.c_attn.weight")
	for i := range c {
		for o := range 3 * c {
			require.Equal(t, attn1[i*3*c+o], qkv1[o*c+i], "qkvw[1][%d][%d]", o, i)
		}
	}
	assert.Equal(t, tensor("ln_f.bias"), p[len(p)-c:])
	assert.Equal(t, tensor("ln_f.weight"), p[len(p)-2*c:len(p)-c])
}

// llm.c fixes the MLP at 4·C: another width is refused, as is a model of
// another layout.
func TestWriteCheckpointRefuses(t *testing.T) {
	cfg, err := train.NewGPTConfig(200, 8, 16, 2, 2, 40)
	require.NoError(t, err)
	m, err := train.InitGPT(cfg, bistro.Hash{9})
	require.NoError(t, err)
	require.ErrorIs(t, llmc.WriteCheckpoint(&bytes.Buffer{}, cfg, m), llmc.ErrModel)
	other, err := train.NewGPTConfig(200, 8, 16, 1, 2, 0)
	require.NoError(t, err)
	require.ErrorIs(t, llmc.WriteCheckpoint(&bytes.Buffer{}, other, m), llmc.ErrModel)
}

func TestWriteTokens(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, llmc.WriteTokens(&buf, []int32{1, 50256, 65535}))
	h := header(t, buf.Bytes())
	assert.Equal(t, []int32{20240520, 1, 3}, h[:3])
	assert.Equal(t, []byte{1, 0, 0x50, 0xc4, 0xff, 0xff}, buf.Bytes()[1024:])
	require.Error(t, llmc.WriteTokens(&bytes.Buffer{}, []int32{65536}))
	require.Error(t, llmc.WriteTokens(&bytes.Buffer{}, []int32{-1}))
	require.Error(t, llmc.WriteTokens(&bytes.Buffer{}, nil))
}
