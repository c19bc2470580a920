//go:build live

package client_test

// The checks that need a live network. They are built only with the tag
// live, so the offline test run neither runs nor counts them:
//
//	BISTRO_LIVE_NETWORK=finney go test -tags live -run Live -v ./subtensor/client/
//	BISTRO_LIVE_NETWORK=test BISTRO_LIVE_NETUID=<n> BISTRO_LIVE_SIGNER='<secret URI of a hotkey registered on n>' \
//	    go test -tags live -run Live -v ./subtensor/client/
//
// BISTRO_LIVE_SIGNER (optional; use the test network) adds a commitment and
// weights on itself, paid by the hotkey.

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/client"
)

func TestLive(t *testing.T) {
	network := os.Getenv("BISTRO_LIVE_NETWORK")
	if network == "" {
		t.Fatal("set BISTRO_LIVE_NETWORK to finney, test or a ws(s):// URL")
	}
	netuid := uint16(1)
	if s := os.Getenv("BISTRO_LIVE_NETUID"); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		require.NoError(t, err)
		netuid = uint16(n)
	}
	ctx := t.Context()
	start := time.Now()
	c, err := client.Dial(ctx, network)
	require.NoError(t, err)
	defer c.Close()
	t.Logf("connected to %s in %v", c.URL(), time.Since(start))

	rv, err := c.RuntimeVersion(ctx, bistro.Hash{})
	require.NoError(t, err)
	md, err := c.Metadata(ctx, bistro.Hash{})
	require.NoError(t, err)
	t.Logf("runtime %s spec %d tx %d, metadata v%d, %d signed extensions", rv.SpecName, rv.SpecVersion, rv.TransactionVersion, md.Version, len(md.Extrinsic.Extensions))

	// Header hashes computed as the node computes them.
	best, err := c.BestHeader(ctx)
	require.NoError(t, err)
	h, err := c.BlockHash(ctx, best.Number)
	require.NoError(t, err)
	assert.Equal(t, h, best.Hash, "computed hash of block %d", best.Number)

	// GRANDPA finality trails the head.
	fin, finHash, err := c.FinalizedHead(ctx)
	require.NoError(t, err)
	got, err := c.FinalizedHash(ctx, fin)
	require.NoError(t, err)
	assert.Equal(t, finHash, got)
	_, err = c.FinalizedHash(ctx, best.Number+100)
	assert.ErrorIs(t, err, bistro.ErrNotFinalized)
	t.Logf("head %d, finalized %d", best.Number, fin)

	// The metagraph, two ways.
	start = time.Now()
	ns, err := c.Neurons(ctx, netuid, fin)
	require.NoError(t, err)
	require.NotEmpty(t, ns)
	t.Logf("netuid %d: %d neurons in %v", netuid, len(ns), time.Since(start))
	lite, err := c.NeuronsLite(ctx, netuid, fin)
	require.NoError(t, err)
	require.Len(t, lite, len(ns))
	for i := range ns {
		assert.Equal(t, ns[i].Hotkey, lite[i].Hotkey)
		assert.Equal(t, ns[i].ValidatorPermit, lite[i].ValidatorPermit)
	}
	_, err = c.Neurons(ctx, 65000, fin)
	assert.ErrorIs(t, err, subtensor.ErrNoSubnet)

	// Commitments as they are on chain (most hotkeys have none).
	for _, n := range ns[:min(len(ns), 16)] {
		fields, at, err := c.Commitment(ctx, netuid, n.Hotkey)
		if errors.Is(err, bistro.ErrNotFound) {
			continue
		}
		if err == nil {
			t.Logf("uid %d committed %d fields at block %d", n.UID, len(fields), at)
		} else {
			t.Logf("uid %d: %v", n.UID, err)
		}
	}

	// Three heads in a row, none skipped, finality behind them.
	s, err := c.Subscribe(ctx)
	require.NoError(t, err)
	defer s.Close()
	prev, err := s.Next(ctx)
	require.NoError(t, err)
	for range 3 {
		hd, err := s.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, prev.Number+1, hd.Number)
		assert.True(t, hd.Time.After(prev.Time))
		t.Logf("head %d at %v, finalized %d", hd.Number, hd.Time, hd.Finalized)
		prev = hd
	}

	uri := os.Getenv("BISTRO_LIVE_SIGNER")
	if uri == "" {
		return
	}
	k, err := bistro.KeypairFromURI(uri)
	require.NoError(t, err)
	rc, err := c.CommitReceipt(ctx, k, netuid, [][]byte{[]byte("bistro live check")})
	require.NoError(t, err)
	t.Logf("commitment in block %d: %d events", rc.BlockNumber, len(rc.Events))
	fields, _, err := c.Commitment(ctx, netuid, k.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("bistro live check")}, fields)
	var self bistro.UID
	for _, n := range ns {
		if n.Hotkey == k.Hotkey() {
			self = n.UID
		}
	}
	err = c.SetWeights(ctx, k, netuid, []bistro.UID{self}, []uint16{65535}, bistro.ProtocolVersion)
	if errors.Is(err, client.ErrCommitRevealEnabled) {
		wc, err := c.CommitWeights(ctx, k, netuid, []bistro.UID{self}, []uint16{65535}, bistro.ProtocolVersion)
		require.NoError(t, err)
		first, last, err := c.RevealWindow(ctx, wc)
		require.NoError(t, err)
		t.Logf("weights committed in block %d; reveal in blocks %d … %d (reveal with RevealWeights then)", wc.Block, first, last)
		return
	}
	if errors.Is(err, bistro.ErrRateLimited) {
		t.Logf("weights rate limited: %v", err)
		return
	}
	require.NoError(t, err)
}
