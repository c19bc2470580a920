package subtensor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/chaintest"
)

var genesis = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testOptions returns lockstep options with a fixed genesis and seed and one
// small subnet (netuid 1) that tests tune.
func testOptions() subtensor.LocalOptions {
	opts := subtensor.DefaultLocalOptions()
	opts.Clock = nil
	opts.Genesis = genesis
	opts.Seed = []byte("test seed")
	sn := &opts.Subnets[0]
	sn.MaxUIDs = 16
	sn.MaxValidators = 4
	sn.Tempo = 10
	sn.WeightsRateLimit = 5
	sn.MinAllowedWeights = 0
	sn.MinNonImmuneUIDs = 0
	return opts
}

func newLocal(t testing.TB, edit func(*subtensor.LocalOptions)) *subtensor.Local {
	t.Helper()
	opts := testOptions()
	if edit != nil {
		edit(&opts)
	}
	l, err := subtensor.NewLocal(opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

var (
	keysMu sync.Mutex
	keys   = map[string]*bistro.Keypair{}
)

// key returns the dev keypair of uri ("//Alice"), derived once.
func key(t testing.TB, uri string) *bistro.Keypair {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[uri]; ok {
		return k
	}
	k, err := bistro.KeypairFromURI(uri)
	require.NoError(t, err)
	keys[uri] = k
	return k
}

// advance produces n blocks on a chain with no stream open.
func advance(t testing.TB, l *subtensor.Local, n uint64) bistro.Head {
	t.Helper()
	h, err := l.Advance(context.Background(), n)
	require.NoError(t, err)
	return h
}

// advanceTo produces blocks until the head is b.
func advanceTo(t testing.TB, l *subtensor.Local, b bistro.Block) bistro.Head {
	t.Helper()
	cur := l.Head().Number
	require.LessOrEqual(t, cur, b)
	return advance(t, l, uint64(b-cur))
}

func register(t testing.TB, l *subtensor.Local, netuid uint16, k bistro.Signer) bistro.UID {
	t.Helper()
	uid, err := l.Register(context.Background(), netuid, k.Hotkey())
	require.NoError(t, err)
	return uid
}

// localHarness runs chaintest against a Local.
type localHarness struct {
	l                    *subtensor.Local
	validators, miners   []bistro.Signer
	stranger             bistro.Signer
	rateLimit, versionKy uint64
}

func (h *localHarness) Chain() bistro.Chain         { return h.l }
func (h *localHarness) Netuid() uint16              { return 1 }
func (h *localHarness) Validators() []bistro.Signer { return h.validators }
func (h *localHarness) Miners() []bistro.Signer     { return h.miners }
func (h *localHarness) Stranger() bistro.Signer     { return h.stranger }
func (h *localHarness) WeightsRateLimit() uint64    { return h.rateLimit }
func (h *localHarness) WeightsVersionKey() uint64   { return h.versionKy }
func (h *localHarness) Advance(ctx context.Context, n uint64) error {
	_, err := h.l.Advance(ctx, n)
	return err
}
func (h *localHarness) AddStake(ctx context.Context, hotkey bistro.Hotkey, amount uint64) error {
	if err := h.l.AddStake(ctx, hotkey, amount); err != nil {
		return err
	}
	_, err := h.l.Advance(ctx, 1)
	return err
}

func TestLocalChainContract(t *testing.T) {
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		o.Subnets[0].WeightsVersionKey = bistro.ProtocolVersion
		o.Subnets[0].MinAllowedWeights = 1024 // Subtensor's: every uid
	})
	ctx := context.Background()
	h := &localHarness{
		l:         l,
		stranger:  key(t, "//Eve"),
		rateLimit: 5,
		versionKy: bistro.ProtocolVersion,
	}
	for i, uri := range []string{"//Alice", "//Bob"} {
		k := key(t, uri)
		register(t, l, 1, k)
		require.NoError(t, l.SetStake(ctx, k.Hotkey(), uint64(1000-i)*1e9))
		h.validators = append(h.validators, k)
	}
	for _, uri := range []string{"//Charlie", "//Dave"} {
		k := key(t, uri)
		register(t, l, 1, k)
		h.miners = append(h.miners, k)
	}
	advance(t, l, 10) // the first epoch gives the validators their permits
	chaintest.Run(t, h)
}
