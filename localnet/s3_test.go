package localnet

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/storage/s3/s3test"
)

// TestS3Network runs the network on a real S3 server (versitygw on a
// loopback port, built by scripts/s3server): every participant's bucket is a
// bucket there, created at the start and read by the others through
// storage/s3's Buckets from the commitments on chain. A proxy in front of the
// server fails some requests with 500s, throttling, connection resets and
// truncated bodies: the stores retry, the loops lose nothing, and the run
// ends exactly as the same network does on directories.
func TestS3Network(t *testing.T) {
	srv, err := s3test.Start(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	proxy, err := s3test.NewProxy(srv.Endpoint)
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	proxy.SetRules(
		s3test.Rule{Every: 17, Fault: s3test.Status500},
		s3test.Rule{Every: 23, Fault: s3test.SlowDown},
		s3test.Rule{Every: 29, Fault: s3test.Reset},
		s3test.Rule{Method: "GET", Every: 31, Fault: s3test.Truncate},
	)

	o := smallOptions(t, 6)
	o.Ledger = LedgerMovingAverage // pays from the first pass: 6 windows are enough
	o.S3 = &S3Options{Endpoint: proxy.URL, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	rep := run(t, o)
	t.Logf("%d requests, %d faults injected", proxy.Requests(), proxy.Injected())
	assert.Positive(t, proxy.Injected())

	assert.True(t, rep.DigestsAgree, "%v", rep.Disagreements)
	minHonest, maxAdv := 1.0, 0.0
	for _, m := range rep.Miners {
		if m.Role == "honest" {
			minHonest = min(minHonest, m.Incentive)
		} else {
			maxAdv = max(maxAdv, m.Incentive)
		}
	}
	assert.Greater(t, minHonest, maxAdv, "every honest miner's incentive exceeds every adversary's")

	// The same network on directories ends in the same state, with the same
	// report: the backend and its faults changed nothing.
	o.S3 = nil
	o.Dir = t.TempDir()
	ref := run(t, o)
	assert.Equal(t, ref.FinalDigest, rep.FinalDigest)
	a, _ := json.Marshal(ref)
	b, _ := json.Marshal(rep)
	assert.JSONEq(t, string(a), string(b))
}
