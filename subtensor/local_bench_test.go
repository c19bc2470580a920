package subtensor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// BenchmarkLockstep measures blocks produced per second in lockstep with P
// participants, each a goroutine calling Next in a loop: one op is one
// block, that is P acknowledgements and P wake-ups. It reports blocks/s and
// ns per participant-acknowledgement.
func BenchmarkLockstep(b *testing.B) {
	for _, parts := range []int{1, 256} {
		b.Run(fmt.Sprintf("participants=%d", parts), func(b *testing.B) {
			ctx := context.Background()
			l := newLocal(b, nil)
			streams := make([]bistro.BlockStream, parts)
			for i := range streams {
				s, err := l.Subscribe(ctx)
				if err != nil {
					b.Fatal(err)
				}
				streams[i] = s
			}
			last := bistro.Block(b.N)
			var wg sync.WaitGroup
			for _, s := range streams {
				wg.Go(func() {
					defer s.Close()
					for {
						h, err := s.Next(ctx)
						if err != nil || h.Number >= last {
							return
						}
					}
				})
			}
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			b.ResetTimer()
			go l.Run(runCtx)
			wg.Wait()
			b.StopTimer()
			if got := l.Head().Number; got != last {
				b.Fatalf("head %d, want %d", got, last)
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "blocks/s")
			b.ReportMetric(sec*1e9/float64(b.N*parts), "ns/ack")
		})
	}
}

// fakeSigner claims a hotkey and cannot sign: for chains that do not verify.
type fakeSigner bistro.Hotkey

func (f fakeSigner) Hotkey() bistro.Hotkey     { return bistro.Hotkey(f) }
func (fakeSigner) Sign([]byte) ([]byte, error) { return nil, fmt.Errorf("fakeSigner cannot sign") }

// BenchmarkAdvance measures block production with no stream: an epoch every
// 10 blocks over a full subnet of 256 uids, 64 validators with weights on
// all of them.
func BenchmarkAdvance(b *testing.B) {
	const uids, vals = 256, 64
	ctx := context.Background()
	l := newLocal(b, func(o *subtensor.LocalOptions) {
		o.VerifySignatures = false
		o.Subnets[0].MaxUIDs = uids
		o.Subnets[0].MaxValidators = vals
		o.Subnets[0].WeightsRateLimit = 1
	})
	signers := make([]fakeSigner, uids)
	for i := range signers {
		signers[i][0], signers[i][1] = byte(i), byte(i>>8)
		if _, err := l.Register(ctx, 1, signers[i].Hotkey()); err != nil {
			b.Fatal(err)
		}
		if i < vals {
			if err := l.SetStake(ctx, signers[i].Hotkey(), uint64(1000+i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	advance(b, l, 10)
	all := make([]bistro.UID, uids)
	for i := range all {
		all[i] = bistro.UID(i)
	}
	for i := range vals {
		ws := make([]uint16, uids)
		for j := range ws {
			ws[j] = uint16(1 + (i*j)%1000)
		}
		if err := l.SetWeights(ctx, signers[i], 1, all, ws, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if in := l.Incentive(1); len(in) != uids || in[vals] == 0 {
		b.Fatalf("no incentive: %v", in)
	}
}
