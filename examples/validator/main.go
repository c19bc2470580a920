// Command validator is a BISTRO validator for a real Bittensor subnet: each
// window it fetches the miners' slices, recomputes a private sample of them,
// scores them and sets weights on chain; in its turn it merges the accepted
// slices into the signed aggregate everyone applies — the original's
// validator.py.
//
//	go run ./examples/validator --wallet.name W --wallet.hotkey H --netuid N \
//	    --bucket s3://my-bucket?endpoint=https://ACCOUNT.r2.cloudflarestorage.com&region=auto \
//	    --params s3://owner-bucket/bistro/release/params.json?endpoint=… --state ./state
//
// Flags are the miner's plus --sample (miners recomputed per window) and
// --eval.pages (held-out pages scored each window for the loss metric); `-h`
// lists them. The ledger lives in --state and survives restarts. On subnets
// with hash commit-reveal, weights are committed and revealed; a subnet that
// needs timelock encryption is refused at start with the setting named.
//
// Everything here is the SDK: package operator checks the configuration, serves
// /metrics, /healthz and /readyz and stops cleanly on SIGINT or SIGTERM
// (saving the ledger); bistro.Validator does the work. Swap the Scorer,
// Sampler or Ledger through bistro.ValidatorOptions.
package main

import (
	"context"
	"os"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/operator"
)

func main() {
	os.Exit(operator.Main(operator.Validator, os.Args[1:], func(ctx context.Context, n *operator.Node) error {
		return n.RunValidator(ctx, bistro.ValidatorOptions{}) // zero: the protocol's defaults
	}))
}
