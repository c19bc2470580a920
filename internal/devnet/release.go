package devnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// The model and dataset of the release: `bistro genesis`'s defaults (a
// small mlp/v1 on the offline Opticks corpus, pinned by digest).
const (
	genesisSeed = "bistro devnet"
	mlpContext  = 8
	mlpEmbed    = 16
	mlpHidden   = 64
	pageLength  = 256
	heldOut     = 16
)

// DevnetParams returns the Params of a devnet with o's timing whose chain
// is at block head when the participants are told: B blocks of BlockTime
// make a window of about WindowTime, and the first window starts at least
// StartDelay later. Model, dataset and genesis fields are left unset.
//
// With the defaults (2 s blocks, 12 s windows): B = 6, grace 2 blocks (4 s
// for a slice of a few KB to reach a loopback bucket), finality lag 0
// (chopsticks finalizes every block as it builds it), failover delay 2
// blocks and merge time 4 s (a lead merges five small slices in
// milliseconds; 4 s leaves room for a loaded machine), a checkpoint every
// 2 windows so a restarted participant catches up from one within ~24 s,
// retention 8 windows (≥ 2K).
func DevnetParams(o Options, head bistro.Block) bistro.Params {
	bt := uint64(o.BlockTime / time.Millisecond)
	b := max(uint64((o.WindowTime+o.BlockTime/2)/o.BlockTime), 4)
	p := bistro.DefaultParams(o.NetUID)
	p.BlocksPerWindow = b
	p.BlockTimeMS = bt
	p.Grace = max(b/3, 1)
	p.FinalityLag = 0
	room := b - p.Grace - p.FinalityLag
	p.FailoverDelay = max(room/2, 1)
	p.MergeTimeMS = p.FailoverDelay * bt
	p.UploadTimeMS = max(p.Grace*bt/2, 1)
	p.CheckpointInterval = 2
	p.Retention = 8
	delay := uint64((o.StartDelay + o.BlockTime - 1) / o.BlockTime)
	p.FirstWindow = (uint64(head) + delay + b - 1) / b
	// Training as the local network's defaults train the same model (README
	// "Training efficiency"): a quarter of Δ per window at a step of lr/f,
	// two pages per miner, the norm check that refuses empty slices.
	p.PagesPerWindow, p.SliceFraction, p.SliceRun = 2, 0.25, 1
	p.LR = bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.25}
	p.LRScale = bistro.LRScaleInverseFraction
	p.Aggregator = bistro.AggregatorParams{ClipFactor: 2, Trim: 0.2, MedianBelow: 3}
	p.Checks = bistro.CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}
	return p
}

// release makes θ₀ and the Params pinning it, as `bistro genesis` does,
// and publishes both to the owner's bucket.
func (d *Devnet) release(ctx context.Context, owner bistro.Signer, head bistro.Block) error {
	cfg, err := train.NewMLPConfig(256, mlpContext, mlpEmbed, mlpHidden)
	if err != nil {
		return fmt.Errorf("devnet: model: %w", err)
	}
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: pageLength, HeldOut: heldOut})
	if err != nil {
		return fmt.Errorf("devnet: dataset: %w", err)
	}
	theta0, err := train.InitMLP(cfg, sha256.Sum256([]byte("bistro/genesis\x00"+genesisSeed)))
	if err != nil {
		return fmt.Errorf("devnet: θ₀: %w", err)
	}
	digest, err := bistro.ThetaHash(theta0)
	if err != nil {
		return fmt.Errorf("devnet: θ₀: %w", err)
	}
	p := DevnetParams(d.opts, head)
	p.Model, p.GenesisDigest = cfg, digest
	p.PageLength, p.DatasetPages, p.DatasetDigest = pageLength, ds.Pages(), ds.Digest()
	if err := p.Validate(); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	var pj bytes.Buffer
	if err := bistro.WriteParams(&pj, &p); err != nil {
		return fmt.Errorf("devnet: params: %w", err)
	}
	layout := theta0.Layout()
	f := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: p.FirstWindow, Params: p.Digest(),
		Base: digest, Theta: digest, Tensors: make([][]float32, len(layout))}
	for t := range layout {
		f.Tensors[t] = theta0.Tensor(t)
	}
	ck, err := bistro.Encode(f, layout, owner)
	if err != nil {
		return fmt.Errorf("devnet: genesis checkpoint: %w", err)
	}
	// The root key given directly: this process's environment need not
	// hold it.
	st, err := s3.New(ctx, d.srv.Options(d.OwnerBucket))
	if err != nil {
		return fmt.Errorf("devnet: owner bucket: %w", err)
	}
	for _, o := range []struct {
		key string
		b   []byte
	}{{ParamsKey, pj.Bytes()}, {GenesisKey, ck}} {
		if err := st.Put(ctx, o.key, bytes.NewReader(o.b), int64(len(o.b))); err != nil {
			return fmt.Errorf("devnet: publish %s: %w", o.key, err)
		}
	}
	d.Params = p
	d.ParamsURL = d.BucketURL(d.OwnerBucket, ParamsKey)
	d.GenesisURL = d.BucketURL(d.OwnerBucket, GenesisKey)
	return nil
}

// SplitObjectURL splits an object URL of the devnet's form,
// s3://<bucket>/<key>?<query>, into the bucket's URL for bistro.Open
// (s3://<bucket>?<query>) and the key.
func SplitObjectURL(raw string) (bucketURL, key string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("devnet: object url: %w", err)
	}
	key = strings.TrimPrefix(u.Path, "/")
	if u.Scheme != "s3" || u.Host == "" || bistro.ValidKey(key) != nil {
		return "", "", fmt.Errorf("devnet: object url %q: want s3://<bucket>/<key>?endpoint=…", u.Redacted())
	}
	u.Path, u.RawPath = "", ""
	return u.String(), key, nil
}
