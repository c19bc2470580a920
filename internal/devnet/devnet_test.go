package devnet_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/devnet"
	_ "github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/wallet"
	"github.com/bistro-go/bistro/train"
)

// TestDevnet starts a devnet of 2 validators and 3 miners with real parts
// and checks what the example binaries rely on, then that Close leaves no
// process behind.
func TestDevnet(t *testing.T) {
	ctx := t.Context()
	o := devnet.DefaultOptions(t.TempDir())
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := time.Now()
	d, err := devnet.Start(ctx, o)
	require.NoError(t, err, "(chopsticks and versitygw: scripts/chopsticks, scripts/s3server)")
	t.Cleanup(func() { d.Close() })
	t.Logf("devnet up in %v: chain %s, S3 %s, params %s", time.Since(start).Round(time.Millisecond), d.ChainURL, d.S3.Endpoint, d.ParamsURL)

	co := client.DefaultOptions()
	co.Network = d.ChainURL
	c, err := client.New(ctx, co)
	require.NoError(t, err)
	defer c.Close()

	t.Run("BlocksInRealTime", func(t *testing.T) {
		h0, err := c.Head(ctx)
		require.NoError(t, err)
		// Nobody asks for blocks here: the producer builds them. Progress,
		// not speed, is checked (a loaded machine builds them late).
		waitHead(t, c, h0.Number+2, 30*time.Second)
		fin, _, err := c.FinalizedHead(ctx)
		require.NoError(t, err)
		hd, err := c.Head(ctx)
		require.NoError(t, err)
		// Chopsticks finalizes each block as it builds it: Params'
		// finality lag 0 rests on this.
		assert.GreaterOrEqual(t, fin, hd.Number-1, "finalized head trails the best head")
		assert.Equal(t, hd.Number, hd.Finalized)
	})

	t.Run("Registered", func(t *testing.T) {
		hd, err := c.Head(ctx)
		require.NoError(t, err)
		ns, err := c.Neurons(ctx, d.NetUID, hd.Number)
		require.NoError(t, err)
		require.Len(t, d.Participants, 5)
		for i, p := range d.Participants {
			require.Less(t, int(p.UID), len(ns), p.Name)
			n := ns[p.UID]
			assert.Equal(t, p.Hotkey, n.Hotkey, "%s at uid %d", p.Name, p.UID)
			if i > 0 {
				assert.Equal(t, d.Participants[i-1].UID+1, p.UID, "uids in order")
			}
			if p.Role == devnet.Validator {
				assert.GreaterOrEqual(t, n.Stake, p.Stake, p.Name)
				assert.NotZero(t, n.Stake, p.Name)
				assert.True(t, n.ValidatorPermit, p.Name)
			} else {
				assert.Zero(t, p.Stake, p.Name)
			}
		}
		assert.Greater(t, d.Participants[0].Stake, d.Participants[1].Stake, "validator1 leads")
	})

	t.Run("Wallets", func(t *testing.T) {
		for _, p := range d.Participants {
			w := wallet.New(p.WalletPath, p.Name)
			s, err := w.Hotkey(devnet.HotkeyName)
			require.NoError(t, err, p.Name)
			assert.Equal(t, p.Hotkey, s.Hotkey(), p.Name)
			ck, err := w.ColdkeyPub()
			require.NoError(t, err, p.Name)
			assert.Equal(t, p.Coldkey, ck, p.Name)
		}
		// Reproducible: the hotkeys are //<Seed>//<name>.
		k, err := bistro.KeypairFromURI("//BistroDevnet//miner1")
		require.NoError(t, err)
		m, _ := d.Participant("miner1")
		assert.Equal(t, k.Hotkey(), m.Hotkey)
	})

	t.Run("SeededCommitments", func(t *testing.T) {
		for _, p := range d.Participants {
			fields, _, err := c.Commitment(ctx, d.NetUID, p.Hotkey)
			require.NoError(t, err, p.Name)
			cm, err := bistro.ParseCommitment(fields)
			require.NoError(t, err, p.Name)
			assert.Equal(t, p.Commitment, cm, p.Name)
			assert.Equal(t, d.Params.Digest(), cm.Params, p.Name)
			assert.Equal(t, p.Bucket, cm.Bucket, p.Name)
			assert.Equal(t, d.S3.Endpoint, cm.Endpoint, p.Name)
			assert.Equal(t, d.S3.AccessKey, cm.ReadKeyID, p.Name)
		}
		// The same commitment through set_commitment: the runtime takes
		// one field (Commitments.MaxFields = 1 at spec 218), a bistro
		// commitment has two or three; the client refuses it before
		// submitting.
		m := d.Participants[len(d.Participants)-1]
		signer, err := wallet.New(m.WalletPath, m.Name).Hotkey(devnet.HotkeyName)
		require.NoError(t, err)
		fields, err := m.Commitment.Fields()
		require.NoError(t, err)
		err = c.Commit(ctx, signer, d.NetUID, fields)
		assert.ErrorIs(t, err, subtensor.ErrCommitmentLimit)
	})

	// Weights and commitments each wait on blocks: side by side.
	t.Run("Extrinsics", func(t *testing.T) {
		t.Run("SetWeights", func(t *testing.T) {
			t.Parallel()
			testSetWeights(t, d, c, o)
		})
		t.Run("Commitments", func(t *testing.T) {
			t.Parallel()
			testCommitments(t, d, c)
		})
	})

	t.Run("Release", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", d.S3.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", d.S3.SecretKey)
		bucket, key, err := devnet.SplitObjectURL(d.ParamsURL)
		require.NoError(t, err)
		assert.Equal(t, devnet.ParamsKey, key)
		st, err := bistro.Open(ctx, bucket)
		require.NoError(t, err)
		pj, err := st.Get(ctx, key, bistro.MaxParamsBytes)
		require.NoError(t, err)
		p, err := bistro.ReadParams(strings.NewReader(string(pj)))
		require.NoError(t, err)
		assert.Equal(t, d.Params.Digest(), p.Digest())
		require.NoError(t, p.Validate())
		assert.Equal(t, uint64(o.BlockTime/time.Millisecond), p.BlockTimeMS)

		gb, gkey, err := devnet.SplitObjectURL(d.GenesisURL)
		require.NoError(t, err)
		assert.Equal(t, bucket, gb)
		assert.Equal(t, devnet.GenesisKey, gkey)
		layout, err := train.MLPLayout(p.Model)
		require.NoError(t, err)
		e := &bistro.Expect{Kind: bistro.KindCheckpoint, Params: &p, Window: p.FirstWindow, Layout: layout}
		ck, err := st.Get(ctx, gkey, e.MaxFileBytes())
		require.NoError(t, err)
		f, err := bistro.Decode(ck, e)
		require.NoError(t, err)
		assert.Equal(t, d.Owner, f.Hotkey, "signed by the subnet owner")
		m, err := bistro.NewMemModel(layout)
		require.NoError(t, err)
		for i, v := range f.Tensors {
			require.NoError(t, m.Write(i, v))
		}
		theta, err := bistro.ThetaHash(m)
		require.NoError(t, err)
		assert.Equal(t, p.GenesisDigest, theta, "θ hash of the genesis = Params.GenesisDigest")
		assert.Equal(t, p.GenesisDigest, f.Theta)

		// Every participant's bucket exists, takes writes with the
		// devnet's credentials and is read by anyone, unsigned.
		for _, pt := range d.Participants {
			s, err := bistro.Open(ctx, pt.BucketURL)
			require.NoError(t, err, pt.Name)
			require.NoError(t, s.Put(ctx, "probe", strings.NewReader("x"), 1), pt.Name)
			anon, err := bistro.Open(ctx, pt.BucketURL+"&anonymous=1")
			require.NoError(t, err, pt.Name)
			b, err := anon.Get(ctx, "probe", 10)
			require.NoError(t, err, pt.Name)
			assert.Equal(t, "x", string(b))
			_, err = anon.List(ctx, "")
			require.NoError(t, err, pt.Name)
			assert.Error(t, anon.Put(ctx, "nope", strings.NewReader("x"), 1), "%s: an unsigned write", pt.Name)
		}
		anon, err := bistro.Open(ctx, bucket+"&anonymous=1")
		require.NoError(t, err)
		_, err = anon.Get(ctx, devnet.GenesisKey, e.MaxFileBytes())
		require.NoError(t, err, "the release is public")
	})

	t.Run("Commands", func(t *testing.T) {
		cmds := d.Commands("/opt/bistro/bin")
		require.Len(t, cmds, len(d.Participants))
		for i, cmd := range cmds {
			p := d.Participants[i]
			assert.Equal(t, "/opt/bistro/bin/"+string(p.Role), cmd.Args[0])
			flag := func(name string) string {
				j := slices.Index(cmd.Args, name)
				require.Positive(t, j, "%s has %s", p.Name, name)
				return cmd.Args[j+1]
			}
			assert.Equal(t, p.WalletPath, flag("--wallet.path"))
			assert.Equal(t, p.Name, flag("--wallet.name"))
			assert.Equal(t, "default", flag("--wallet.hotkey"))
			assert.Equal(t, d.ChainURL, flag("--subtensor.chain_endpoint"))
			assert.Equal(t, "1", flag("--netuid"))
			assert.Equal(t, p.BucketURL, flag("--bucket"))
			assert.Equal(t, d.ParamsURL, flag("--params"))
			assert.Equal(t, p.StateDir, flag("--state"))
			assert.Equal(t, p.MetricsAddr, flag("--metrics.addr"))
			assert.Contains(t, cmd.Env, "AWS_ACCESS_KEY_ID="+d.S3.AccessKey)
			assert.Contains(t, cmd.Env, "BISTRO_READ_SECRET_ACCESS_KEY="+d.S3.SecretKey)
			assert.True(t, strings.HasPrefix(cmd.String(), "AWS_ACCESS_KEY_ID="), cmd.String())
		}
		gr := d.Commands(devnet.GoRun)
		assert.Equal(t, []string{"go", "run", "./examples/validator"}, gr[0].Args[:3])
		assert.Equal(t, []string{"go", "run", "./examples/miner"}, gr[len(gr)-1].Args[:3])
	})

	// Close: no chopsticks and no versitygw left.
	cp, sp := d.Pids()
	require.NoError(t, d.Close())
	for _, pid := range []int{cp, sp} {
		err := syscall.Kill(pid, 0)
		assert.True(t, errors.Is(err, syscall.ESRCH), "pid %d still exists after Close: %v", pid, err)
	}
	built := d.Blocks()
	time.Sleep(2 * o.BlockTime)
	assert.Equal(t, built, d.Blocks(), "the producer stopped")
	t.Logf("built %d blocks in %v", built, time.Since(start).Round(time.Millisecond))
}

// waitHead waits until the chain's head is at least n, failing after limit
// (a generous bound: progress, not speed).
func waitHead(t *testing.T, c *client.Client, n bistro.Block, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	for {
		hd, err := c.Head(ctx)
		if err == nil && hd.Number >= n {
			return
		}
		last := hd.Number
		select {
		case <-ctx.Done():
			t.Fatalf("head did not reach #%d within %v (last: #%d, err %v)", n, limit, last, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// weightsRow reads the uids validator uid weights, ascending.
func weightsRow(t *testing.T, c *client.Client, netuid uint16, uid bistro.UID) []bistro.UID {
	t.Helper()
	w, err := c.Weights(t.Context(), netuid, uid)
	require.NoError(t, err)
	out := slices.Collect(maps.Keys(w))
	slices.Sort(out)
	return out
}

// TestCommitmentRateLimit shows the runtime's own commitment rate limit,
// which the devnet lifts unless asked to keep it: a second commitment
// within Commitments.RateLimit blocks (100 at spec 218) is refused.
func TestCommitmentRateLimit(t *testing.T) {
	ctx := t.Context()
	o := devnet.DefaultOptions(t.TempDir())
	o.Validators, o.Miners = 1, 1
	o.KeepCommitmentRateLimit = true
	d, err := devnet.Start(ctx, o)
	require.NoError(t, err)
	defer d.Close()
	assert.False(t, d.ClearsCommitmentLimit)
	assert.Equal(t, uint64(100), d.CommitmentRateLimit)
	co := client.DefaultOptions()
	co.Network = d.ChainURL
	c, err := client.New(ctx, co)
	require.NoError(t, err)
	defer c.Close()
	m, _ := d.Participant("miner1")
	signer, err := wallet.New(m.WalletPath, m.Name).Hotkey(devnet.HotkeyName)
	require.NoError(t, err)
	require.NoError(t, c.Commit(ctx, signer, d.NetUID, [][]byte{[]byte("first")}))
	err = c.Commit(ctx, signer, d.NetUID, [][]byte{[]byte("second")})
	require.ErrorIs(t, err, bistro.ErrRateLimited, "a restart within the rate limit, on the runtime's terms")
	var de *client.DispatchError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "CommitmentSetRateLimitExceeded", de.Name)
}

func testSetWeights(t *testing.T, d *devnet.Devnet, c *client.Client, o devnet.Options) {
	t.Helper()
	ctx := t.Context()
	v, _ := d.Participant("validator2")
	signer, err := wallet.New(v.WalletPath, v.Name).Hotkey(devnet.HotkeyName)
	require.NoError(t, err)
	var uids []bistro.UID
	var ws []uint16
	for _, p := range d.Participants {
		if p.Role == devnet.Miner {
			uids, ws = append(uids, p.UID), append(ws, uint16(1000*(len(uids)+1)))
		}
	}
	require.NoError(t, c.SetWeights(ctx, signer, d.NetUID, uids, ws, o.WeightsVersionKey))
	assert.Equal(t, uids, weightsRow(t, c, d.NetUID, v.UID), "the weights' uids read back from storage")

	// Again at once: the rate limit (WeightsSetRateLimit blocks) refuses
	// it, or it passed because blocks went by; after the limit it works.
	hd, err := c.Head(ctx)
	require.NoError(t, err)
	err = c.SetWeights(ctx, signer, d.NetUID, uids, ws, o.WeightsVersionKey)
	if err != nil {
		require.ErrorIs(t, err, bistro.ErrRateLimited)
	}
	waitHead(t, c, hd.Number+bistro.Block(o.WeightsRateLimit)+1, 60*time.Second)
	require.NoError(t, c.SetWeights(ctx, signer, d.NetUID, uids[:1], ws[:1], o.WeightsVersionKey))
	assert.Len(t, weightsRow(t, c, d.NetUID, v.UID), 1)
}

func testCommitments(t *testing.T, d *devnet.Devnet, c *client.Client) {
	t.Helper()
	ctx := t.Context()
	m, _ := d.Participant("miner1")
	signer, err := wallet.New(m.WalletPath, m.Name).Hotkey(devnet.HotkeyName)
	require.NoError(t, err)
	require.NoError(t, c.Commit(ctx, signer, d.NetUID, [][]byte{[]byte("first")}), "a first commitment")
	fields, at, err := c.Commitment(ctx, d.NetUID, m.Hotkey)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("first")}, fields)
	// A restart within the runtime's rate limit (100 blocks): the
	// devnet lifts it, so the second commitment passes.
	waitHead(t, c, at+2, 30*time.Second)
	require.True(t, d.ClearsCommitmentLimit)
	t.Logf("runtime commitment rate limit %d blocks (lifted by the devnet)", d.CommitmentRateLimit)
	require.NoError(t, c.Commit(ctx, signer, d.NetUID, [][]byte{[]byte("second")}), "a commitment 2 blocks later")
	fields, _, err = c.Commitment(ctx, d.NetUID, m.Hotkey)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("second")}, fields)
}
