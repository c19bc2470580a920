package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/client"
)

// A validator's chain calls on finney: the metagraph at a finalized block,
// a commitment, weights. (Not run: it needs the network.)
func Example() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "finney")
	if err != nil {
		log.Fatal(err) // client.ErrUnreachable when the endpoint is down
	}
	defer c.Close()

	s, err := c.Subscribe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	head, err := s.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	neurons, err := c.Neurons(ctx, 1, head.Finalized)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(neurons), "neurons")

	hotkey, err := bistro.KeypairFromURI("//Alice") // a btcli hotkey in practice (subtensor/wallet)
	if err != nil {
		log.Fatal(err)
	}
	uids := []bistro.UID{0, 1}
	weights := []uint16{65535, 32768}
	switch err := c.SetWeights(ctx, hotkey, 1, uids, weights, bistro.ProtocolVersion); {
	case err == nil:
	case errors.Is(err, bistro.ErrRateLimited):
		// try again at a later block
	case errors.Is(err, client.ErrCommitRevealEnabled):
		wc, err := c.CommitWeights(ctx, hotkey, 1, uids, weights, bistro.ProtocolVersion)
		if err != nil {
			log.Fatal(err)
		}
		_ = wc // RevealWeights(ctx, hotkey, wc) once RevealWindow has come
	default:
		log.Fatal(err)
	}
}
