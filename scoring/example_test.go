package scoring_test

import (
	"context"
	"fmt"
	"os"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/localrun"
	"github.com/bistro-go/bistro/scoring"
)

// A validator of another subnet scores the slices of window 6 of a short
// local network from its files: the lead's checkpoint of window 4 and the
// aggregates of windows 3 and 4 make base(6).
func ExampleScore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bistro-scoring-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	run, err := localrun.Make(ctx, dir, localrun.DefaultOptions()) // two honest miners, a lazy and a noisy one
	if err != nil {
		panic(err)
	}
	lead, err := run.Lead()
	if err != nil {
		panic(err)
	}
	netuid := run.Params.NetUID
	seed, err := seedOf(run.Object(lead, bistro.AggregateKey(netuid, 6))) // a validator asks the chain
	if err != nil {
		panic(err)
	}
	w := uint64(6)
	for _, m := range run.Report.Miners {
		resp := scoring.Score(ctx, &scoring.Request{
			Params:     run.ParamsPath(),
			Checkpoint: run.Object(lead, bistro.CheckpointKey(netuid, 4)),
			Aggregates: []string{run.Object(lead, bistro.AggregateKey(netuid, 3)), run.Object(lead, bistro.AggregateKey(netuid, 4))},
			Dataset:    "optics",
			Window:     &w,
			Hotkey:     m.Hotkey,
			Seed:       seed.String(),
			Slice:      run.Slice(w, m.Hotkey),
		})
		fmt.Printf("%-6s %s\n", m.Role, resp.Encode())
	}
	// Output:
	// honest {"verdict":"pass","value":1,"rel_err":0,"reason":"rel err 0 <= tau 0.05"}
	// honest {"verdict":"pass","value":1,"rel_err":0,"reason":"rel err 0 <= tau 0.05"}
	// lazy   {"verdict":"fail","value":0,"rel_err":null,"reason":"bistro: slice norm out of bounds: 0 < 0.01612"}
	// noise  {"verdict":"slash","value":0,"rel_err":1.1422126516662408,"reason":"rel err 1.14 > slash 0.1"}
}

// seedOf reads the seed an aggregate names.
func seedOf(path string) (bistro.Hash, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return bistro.Hash{}, err
	}
	f, _, _, err := bistro.Inspect(b, len(b))
	if err != nil {
		return bistro.Hash{}, err
	}
	return f.Seed, nil
}
