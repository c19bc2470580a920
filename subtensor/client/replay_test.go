package client_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/client/clienttest"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// The recorded finney session (metagraph_seed.json): spec 343, block
// 6852690, netuid 1.
const (
	recordedBlock  = 6852690
	recordedHash   = "db13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0"
	recordedParent = "7348409fe36728fa2ac7f0886346fd35b79804d294046d152ba1baccd9d0be3a"
	// finneyGenesis is finney's block 0 hash (not in the recording).
	finneyGenesis = "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03"
)

func mustHash(t testing.TB, s string) bistro.Hash {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return bistro.Hash(b)
}

// newReplay serves the recorded finney session. The recording has no
// metadata and no genesis hash; the server adds them: the v15 metadata of
// the same runtime (spec 343, from the fixtures) for Metadata_metadata_at_version,
// finney's genesis hash, and the recorded runtime version for any block
// (the recording holds one runtime).
func newReplay(t testing.TB) *clienttest.Replay {
	t.Helper()
	dir := scaletest.Dir(t)
	rec, err := clienttest.LoadRecording(filepath.Join(dir, "metagraph_seed.json"))
	require.NoError(t, err, "MISSING or bad fixture metagraph_seed.json in %s", dir)
	r := clienttest.NewReplay(rec)
	t.Cleanup(r.Close)
	require.NotEmpty(t, rec["state_getRuntimeVersion"])
	require.NoError(t, r.AnswerAny("state_getRuntimeVersion", rec["state_getRuntimeVersion"][0].Result))
	v15 := strings.TrimSpace(string(scaletest.Read(t, "metadata_v15_at_version.txt")))
	for _, at := range []any{nil, "0x" + recordedHash, "0x" + recordedParent} {
		require.NoError(t, r.Answer("state_call", []any{"Metadata_metadata_at_version", "0x0f000000", at}, v15))
	}
	require.NoError(t, r.Answer("chain_getBlockHash", []any{0}, "0x"+finneyGenesis))
	return r
}

func replayOptions(url string) client.Options {
	o := client.DefaultOptions()
	o.Network = url
	o.CallTimeout = 20 * time.Second
	o.RetryDelay = 10 * time.Millisecond
	return o
}

func dialReplay(t testing.TB) (*clienttest.Replay, *client.Client) {
	t.Helper()
	r := newReplay(t)
	c, err := client.New(t.Context(), replayOptions(r.URL()))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return r, c
}

func TestReplayHeadAndRuntime(t *testing.T) {
	_, c := dialReplay(t)
	ctx := t.Context()
	assert.Equal(t, mustHash(t, finneyGenesis), c.GenesisHash())

	// The header's hash is computed from its SCALE encoding: it must be
	// the hash the node gave for that block.
	best, err := c.BestHeader(ctx)
	require.NoError(t, err)
	assert.Equal(t, bistro.Block(recordedBlock), best.Number)
	assert.Equal(t, mustHash(t, recordedHash), best.Hash, "computed header hash")
	assert.Equal(t, mustHash(t, recordedParent), best.ParentHash)
	assert.Len(t, best.Digest, 3)

	h, err := c.BlockHash(ctx, recordedBlock)
	require.NoError(t, err)
	assert.Equal(t, best.Hash, h)
	hd, err := c.Header(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, best, hd)

	var head string
	require.NoError(t, c.Call(ctx, "chain_getHead", nil, &head))
	assert.Equal(t, "0x"+recordedHash, head)

	rv, err := c.RuntimeVersion(ctx, mustHash(t, recordedParent))
	require.NoError(t, err)
	assert.Equal(t, "node-subtensor", rv.SpecName)
	assert.Equal(t, uint32(343), rv.SpecVersion)
	assert.Equal(t, uint32(1), rv.TransactionVersion)

	md, err := c.Metadata(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, 15, md.Version, "the client prefers v15 metadata (typed runtime APIs)")
	assert.True(t, md.HasCall("SubtensorModule", "set_weights"))
}

func TestReplayNeurons(t *testing.T) {
	_, c := dialReplay(t)
	ctx := t.Context()
	ns, err := c.Neurons(ctx, 1, recordedBlock)
	require.NoError(t, err)
	require.Len(t, ns, 1024)
	permits, distinct := 0, map[bistro.Hotkey]bool{}
	var stake uint64
	var incentive float64
	for i, n := range ns {
		assert.Equal(t, bistro.UID(i), n.UID)
		assert.LessOrEqual(t, n.Registered, bistro.Block(recordedBlock))
		assert.True(t, n.Incentive >= 0 && n.Incentive <= 1)
		assert.True(t, strings.HasPrefix(n.Hotkey.String(), "5"))
		distinct[n.Hotkey] = true
		if n.ValidatorPermit {
			permits++
		}
		stake += n.Stake
		incentive += n.Incentive
	}
	assert.Greater(t, permits, 0)
	assert.LessOrEqual(t, permits, 256)
	assert.Greater(t, stake, uint64(0))
	assert.Greater(t, len(distinct), 512, "hotkeys mostly distinct")
	assert.InDelta(t, 1, incentive, 0.05, "incentives sum to about 1")
	assert.Greater(t, ns[len(ns)-1].Registered, bistro.Block(0))

	// get_neurons_lite, recorded at the same block, agrees neuron by neuron.
	lite, err := c.NeuronsLite(ctx, 1, recordedBlock)
	require.NoError(t, err)
	require.Len(t, lite, 1024)
	for i, l := range lite {
		n := ns[i]
		assert.Equal(t, n.UID, l.UID)
		assert.Equal(t, n.Hotkey, l.Hotkey, "uid %d", i)
		assert.Equal(t, n.ValidatorPermit, l.ValidatorPermit, "uid %d", i)
		assert.Equal(t, n.Incentive, l.Incentive, "uid %d", i)
		assert.LessOrEqual(t, l.LastUpdate, bistro.Block(recordedBlock))
	}
}

func TestReplayNotRecorded(t *testing.T) {
	_, c := dialReplay(t)
	// The replay answers what was not recorded with an error; the client
	// returns it as the node's.
	_, err := c.Neurons(t.Context(), 2, recordedBlock)
	var re *client.RPCError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, -32602, re.Code)
}

func TestReconnect(t *testing.T) {
	r, c := dialReplay(t)
	ctx := t.Context()
	_, err := c.BestHeader(ctx)
	require.NoError(t, err)
	for range 3 {
		r.DropConnections()
		hd, err := c.BestHeader(ctx)
		require.NoError(t, err, "a read after the connection dropped")
		assert.Equal(t, bistro.Block(recordedBlock), hd.Number)
	}
}

func TestCallTimeout(t *testing.T) {
	r := newReplay(t)
	o := replayOptions(r.URL())
	o.CallTimeout = 300 * time.Millisecond
	c, err := client.New(t.Context(), o)
	require.NoError(t, err)
	defer c.Close()
	r.Delay("chain_getHead", 3*time.Second)
	start := time.Now()
	err = c.Call(t.Context(), "chain_getHead", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second, "the per-call timeout ended the call")
	// The connection is still good for other calls.
	_, err = c.BestHeader(t.Context())
	require.NoError(t, err)

	// The caller's context ends a call too.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = c.Call(ctx, "chain_getHead", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDeadEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	o := client.DefaultOptions()
	o.Network = "ws://" + addr
	o.DialTimeout = 2 * time.Second
	o.RetryDelay = 10 * time.Millisecond
	start := time.Now()
	_, err = client.New(t.Context(), o)
	require.ErrorIs(t, err, client.ErrUnreachable)
	assert.Contains(t, err.Error(), addr)
	assert.Less(t, time.Since(start), 10*time.Second)

	// An endpoint that goes away later: reads fail with ErrUnreachable
	// once the retries are spent.
	r := newReplay(t)
	c, err := client.New(t.Context(), replayOptions(r.URL()))
	require.NoError(t, err)
	defer c.Close()
	r.Close()
	_, err = c.BestHeader(t.Context())
	require.Error(t, err)
	assert.True(t, errors.Is(err, client.ErrUnreachable) || errors.Is(err, client.ErrConnectionLost), "%v", err)
}

func TestNetworkURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"finney", "wss://entrypoint-finney.opentensor.ai:443"},
		{"test", "wss://test.finney.opentensor.ai:443"},
		{"local", "ws://127.0.0.1:9944"},
		{"ws://10.0.0.1:9944", "ws://10.0.0.1:9944"},
		{"wss://node.example.com/ws", "wss://node.example.com/ws"},
	} {
		got, err := client.NetworkURL(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
	for _, bad := range []string{"", "mainnet", "http://127.0.0.1:9944", "ws://", "127.0.0.1:9944"} {
		_, err := client.NetworkURL(bad)
		assert.ErrorIs(t, err, client.ErrBadNetwork, bad)
	}
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, client.DefaultOptions().Validate())
	o := client.DefaultOptions()
	o.CallTimeout = 0
	o.Retries = -1
	err := o.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CallTimeout")
	assert.Contains(t, err.Error(), "Retries")
	o = client.DefaultOptions()
	o.Network = "nowhere"
	assert.ErrorIs(t, o.Validate(), client.ErrBadNetwork)
	_, err = client.New(t.Context(), o)
	assert.ErrorIs(t, err, client.ErrBadNetwork)
}

func TestErrorsMatchSentinels(t *testing.T) {
	de := &client.DispatchError{Module: "SubtensorModule", Name: "SettingWeightsTooFast"}
	assert.ErrorIs(t, de, bistro.ErrRateLimited)
	de = &client.DispatchError{Module: "Commitments", Name: "SpaceLimitExceeded"}
	assert.ErrorIs(t, de, bistro.ErrRateLimited)
	assert.ErrorIs(t, de, subtensor.ErrSpaceLimit)
	de = &client.DispatchError{Module: "SubtensorModule", Name: "NeuronNoValidatorPermit"}
	assert.ErrorIs(t, de, subtensor.ErrNoValidatorPermit)
	assert.NotErrorIs(t, de, bistro.ErrRateLimited)
	de = &client.DispatchError{Name: "Token.FundsUnavailable"}
	assert.ErrorIs(t, de, client.ErrInsufficientBalance)
	te := &client.TxError{Kind: "payment"}
	assert.ErrorIs(t, te, client.ErrInsufficientBalance)
	te = &client.TxError{Kind: "custom", Custom: 3}
	assert.ErrorIs(t, te, client.ErrTxRejected)
	assert.Contains(t, te.Error(), "custom 3")
}

// TestReplayRuntimeUpgrade: a block of a newer runtime is read with that
// runtime's metadata, fetched once; the older blocks keep theirs.
func TestReplayRuntimeUpgrade(t *testing.T) {
	r, c := dialReplay(t)
	ctx := t.Context()
	// Block "upgraded" runs spec 393, whose v16 metadata the fixtures hold.
	upgraded := "0x" + strings.Repeat("ab", 32)
	require.NoError(t, r.Answer("state_getRuntimeVersion", []any{upgraded}, map[string]any{
		"specName": "node-subtensor", "implName": "node-subtensor", "specVersion": 393,
		"implVersion": 1, "transactionVersion": 1, "stateVersion": 1,
	}))
	require.NoError(t, r.Answer("state_call", []any{"Metadata_metadata_versions", "0x", upgraded}, "0x0c0e0000000f00000010000000"))
	v16 := scaletest.MetadataBytes(t, "CortexLM_finney.scale")
	opaque := append([]byte{1}, scale.AppendCompact(nil, uint64(len(v16)))...)
	opaque = append(opaque, v16...)
	require.NoError(t, r.Answer("state_call", []any{"Metadata_metadata_at_version", "0x10000000", upgraded}, "0x"+hex.EncodeToString(opaque)))

	before := r.Calls("state_call")
	md, err := c.Metadata(ctx, mustHash(t, upgraded[2:]))
	require.NoError(t, err)
	assert.Equal(t, 16, md.Version, "the newest metadata the runtime offers")
	assert.Equal(t, 2, r.Calls("state_call")-before, "versions, then v16")
	again, err := c.Metadata(ctx, mustHash(t, upgraded[2:]))
	require.NoError(t, err)
	assert.Same(t, md, again, "read once per spec version")
	assert.Equal(t, 2, r.Calls("state_call")-before)

	old, err := c.Metadata(ctx, mustHash(t, recordedHash))
	require.NoError(t, err)
	assert.Equal(t, 15, old.Version, "spec 343 keeps its metadata")
	assert.NotEqual(t, len(old.Extrinsic.Extensions), 0)
	assert.NotSame(t, md, old)
}
