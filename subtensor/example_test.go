package subtensor_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// A lockstep chain with two participants: each handles a head, then asks
// for the next; the chain moves on when both have.
func ExampleLocal() {
	ctx := context.Background()
	opts := subtensor.DefaultLocalOptions()
	opts.Genesis = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	opts.Seed = []byte("example")
	chain, err := subtensor.NewLocal(opts)
	if err != nil {
		panic(err)
	}
	defer chain.Close()

	alice, _ := bistro.KeypairFromURI("//Alice")
	uid, _ := chain.Register(ctx, 1, alice.Hotkey())
	fmt.Println("alice has uid", uid)

	done := make(chan []bistro.Block, 2)
	for range 2 {
		s, _ := chain.Subscribe(ctx) // before Run: both start at block 0
		go func() {
			defer s.Close()
			var seen []bistro.Block
			for range 4 {
				h, err := s.Next(ctx) // acknowledges the head before
				if err != nil {
					break
				}
				seen = append(seen, h.Number) // the work of this head
			}
			done <- seen
		}()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go chain.Run(runCtx)
	fmt.Println(<-done, <-done)

	ns, _ := chain.Neurons(ctx, 1, chain.Head().Number)
	fmt.Println(len(ns), "neuron, registered at block", ns[0].Registered)
	// Output:
	// alice has uid 0
	// [0 1 2 3] [0 1 2 3]
	// 1 neuron, registered at block 1
}
