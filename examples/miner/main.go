// Command miner is a BISTRO miner for a real Bittensor subnet: each window it
// trains the shared model on its assigned pages and uploads a slice of the
// update to its bucket, as the original's miner.py does.
//
//	go run ./examples/miner --wallet.name W --wallet.hotkey H --netuid N \
//	    --bucket s3://my-bucket?endpoint=https://ACCOUNT.r2.cloudflarestorage.com&region=auto \
//	    --params s3://owner-bucket/bistro/release/params.json?endpoint=…
//
// Flags are bittensor's (--wallet.*, --subtensor.network or
// --subtensor.chain_endpoint, --netuid, --logging.*) plus --bucket, --params,
// --device, --state and --metrics.addr; `-h` lists them. The bucket's write
// key comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a .env file in the
// working directory is read too), the read-only key it announces from
// BISTRO_READ_ACCESS_KEY_ID / BISTRO_READ_SECRET_ACCESS_KEY.
//
// Everything here is the SDK: package operator checks the configuration
// (exit 2 with one line when it cannot work), serves /metrics, /healthz and
// /readyz, stops cleanly on SIGINT or SIGTERM, and bistro.Miner does the work.
// A custom miner swaps one part: pass its own bistro.MinerStrategy to
// RunMiner, or build a bistro.Config with its own Trainer.
package main

import (
	"context"
	"os"

	"github.com/bistro-go/bistro/operator"
)

func main() {
	os.Exit(operator.Main(operator.Miner, os.Args[1:], func(ctx context.Context, n *operator.Node) error {
		return n.RunMiner(ctx, nil) // nil: the honest strategy
	}))
}
