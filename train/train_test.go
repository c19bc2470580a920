package train_test

import (
	"context"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A short training run on the offline pages: 20 windows, each an update on
// 4 pages that the protocol's PageAssigner picks, applied in full; the loss
// on the held-out pages falls well below its initial value.
func TestTrainOptics(t *testing.T) {
	const (
		windows = 20
		perStep = 4
		lr      = 0.5
		clip    = 1
	)
	ctx := context.Background()
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 256, HeldOut: 8})
	require.NoError(t, err)
	heldOut, err := ds.HeldOut(ctx)
	require.NoError(t, err)

	cfg := config(t, 4, 8, 64)
	m, err := train.InitMLP(cfg, seed)
	require.NoError(t, err)
	var tr train.MLP
	before, err := tr.Loss(ctx, m, heldOut)
	require.NoError(t, err)

	assign := bistro.Pages{NetUID: 1}
	seen := map[uint64]bool{}
	for w := range uint64(windows) {
		ids, err := assign.Assign(w, bistro.Hotkey{7}, perStep, ds.Pages())
		require.NoError(t, err)
		pages := make([][]int32, len(ids))
		for i, id := range ids {
			seen[id] = true
			pages[i], err = ds.Page(ctx, id, nil)
			require.NoError(t, err)
		}
		delta, err := tr.Update(ctx, m, pages, lr, clip)
		require.NoError(t, err)
		for ti, v := range gatherAllByTensor(t, delta) {
			require.NoError(t, m.Apply(ti, allIndices(len(v)), v))
		}
	}
	after, err := tr.Loss(ctx, m, heldOut)
	require.NoError(t, err)
	t.Logf("held-out loss %.4f → %.4f nats after %d updates on %d distinct pages", before, after, windows, len(seen))
	assert.Greater(t, len(seen), windows*perStep*9/10, "pages mostly distinct")
	assert.Less(t, after, before-1, "held-out loss must fall by more than 1 nat")
}

func allIndices(n int) []uint32 {
	idx := make([]uint32, n)
	for i := range idx {
		idx[i] = uint32(i)
	}
	return idx
}

func gatherAllByTensor(t testing.TB, d bistro.Tensors) [][]float32 {
	t.Helper()
	out := make([][]float32, len(d.Layout()))
	for i, spec := range d.Layout() {
		out[i] = make([]float32, spec.Len())
		require.NoError(t, d.Gather(i, allIndices(spec.Len()), out[i]))
	}
	return out
}
