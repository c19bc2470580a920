package train_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A gpt2/v1 model written as a protocol checkpoint (safetensors) and read
// back: tensor names, shapes and dtypes are those GPTLayout documents (the
// names of Hugging Face's GPT-2 state_dict, F32, weights [in, out]), in
// layout order, and the model read back has the same bits, θ hash and loss.
func TestGPTCheckpointRoundTrip(t *testing.T) {
	cfg, tr := smallGPT(t)
	m, err := train.InitGPT(cfg, seed)
	require.NoError(t, err)
	layout := m.Layout()
	p := bistro.DefaultParams(7)
	p.Model = cfg
	signer, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)
	theta, err := bistro.ThetaHash(m)
	require.NoError(t, err)
	f := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: 40, Params: p.Digest(),
		Base: bistro.Hash{0xd}, Theta: theta}
	for i := range layout {
		f.Tensors = append(f.Tensors, m.Tensor(i))
	}
	b, err := bistro.Encode(f, layout, signer)
	require.NoError(t, err)

	// The safetensors header, as a PyTorch user's safetensors.torch.load sees it.
	n := binary.LittleEndian.Uint64(b)
	dec := json.NewDecoder(bytes.NewReader(b[8 : 8+n]))
	var hdr map[string]json.RawMessage
	require.NoError(t, dec.Decode(&hdr))
	require.Len(t, hdr, len(layout)+1, "one entry per tensor and __metadata__")
	for _, spec := range layout {
		raw, ok := hdr[spec.Name]
		require.True(t, ok, "tensor %q missing from the header", spec.Name)
		var th struct {
			Dtype string `json:"dtype"`
			Shape []int  `json:"shape"`
		}
		require.NoError(t, json.Unmarshal(raw, &th))
		assert.Equal(t, "F32", th.Dtype, spec.Name)
		assert.Equal(t, spec.Shape, th.Shape, spec.Name)
	}
	for _, name := range []string{"wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_proj.bias", "ln_f.weight"} {
		assert.Contains(t, hdr, name)
	}
	assert.NotContains(t, hdr, "lm_head.weight", "the head is tied to wte.weight")

	got, err := bistro.Decode(b, &bistro.Expect{Kind: bistro.KindCheckpoint, Params: &p, Window: 40, Layout: layout})
	require.NoError(t, err)
	assert.Equal(t, theta, got.Theta)
	back, err := tr.NewModel(cfg)
	require.NoError(t, err)
	for i, v := range got.Tensors {
		require.NoError(t, back.Write(i, v))
	}
	requireSameBits(t, m.Flat(), back.(*bistro.MemModel).Flat(), "θ after the round trip")
	theta2, err := bistro.ThetaHash(back)
	require.NoError(t, err)
	assert.Equal(t, theta, theta2)
	pages := opticsPages(t, 33, 3, 1)
	l1, err := tr.Loss(context.Background(), m, pages)
	require.NoError(t, err)
	l2, err := tr.Loss(context.Background(), back, pages)
	require.NoError(t, err)
	assert.Equal(t, math.Float64bits(l1), math.Float64bits(l2))
}
