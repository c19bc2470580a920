// Package devnet runs a local Bittensor subnet with real parts for the
// example miner and validator: a real Subtensor runtime (raonet.json, spec
// 218) under chopsticks, offline, building a block every BlockTime in real
// time; a real S3 server (versitygw) on 127.0.0.1 with a bucket per
// participant (public-read); btcli wallet folders whose hotkeys are
// registered on the subnet (validators with stake) with their bucket
// commitments already on chain; and the subnet's release — params.json and
// the signed genesis checkpoint — in the owner's bucket. README.md lists
// what raonet's runtime limits and how the devnet meets them.
//
//	d, err := devnet.Start(ctx, devnet.DefaultOptions("/tmp/devnet"))
//	if err != nil { … }
//	defer d.Close()
//	for _, c := range d.Commands("") { // "" runs them with go run
//		fmt.Println(c)
//	}
//
// `scripts/devnet` is the one command: it installs chopsticks and
// versitygw, starts a devnet, prints the commands that start each miner and
// validator, and runs until interrupted. The S3 credentials in the commands
// are the devnet's own, made up at Start for a server on loopback.
//
// The package is for development and tests: it imports the test harnesses
// of subtensor/client (clienttest) and storage/s3 (s3test).
package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3/s3test"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/client/clienttest"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// Release keys in the owner's bucket: the Params JSON as bistro.WriteParams
// writes it and the signed genesis checkpoint, as `bistro genesis` writes
// them.
const (
	ParamsKey  = "bistro/release/params.json"
	GenesisKey = "bistro/release/genesis.safetensors"
)

// HotkeyName is the hotkey file of every participant's wallet.
const HotkeyName = "default"

// Role is what a participant runs.
type Role string

// The roles.
const (
	Validator Role = "validator"
	Miner     Role = "miner"
)

// Participant is one registered hotkey with its wallet, bucket and folders.
type Participant struct {
	// Name is the wallet's name: validator1 …, miner1 ….
	Name string
	Role Role
	UID  bistro.UID
	// Hotkey and Coldkey are the public keys; the hotkey's secret is in
	// WalletPath/Name/hotkeys/default, unencrypted as btcli writes it.
	Hotkey, Coldkey bistro.Hotkey
	// Stake is the hotkey's alpha on the subnet at start, in rao.
	Stake uint64
	// WalletPath is the wallet root (--wallet.path); the wallet is
	// WalletPath/Name.
	WalletPath string
	// Bucket is the participant's bucket on the devnet's S3 server and
	// BucketURL its URL in bistro.Open's form.
	Bucket, BucketURL string
	// StateDir is the participant's state folder (--state).
	StateDir string
	// MetricsAddr is a free loopback address for its metrics (--metrics.addr).
	MetricsAddr string
	// Commitment is the bucket commitment the devnet wrote on chain for
	// it (Options.SeedCommitments), else zero.
	Commitment bistro.Commitment
}

// S3 is the devnet's S3 server. AccessKey and SecretKey are throwaway
// credentials of a server on loopback, made up at Start: fine to print.
type S3 struct {
	Endpoint, Region     string
	AccessKey, SecretKey string
}

// Devnet is a running devnet. Its fields are read-only; Close stops it.
type Devnet struct {
	// ChainURL is chopsticks' websocket URL (--subtensor.chain_endpoint).
	ChainURL string
	// NetUID is the subnet.
	NetUID uint16
	// S3 is the S3 server every bucket is on.
	S3 S3
	// OwnerBucket holds the release; ParamsURL and GenesisURL are its two
	// objects in bistro.Open's form with the key as path
	// (s3://<bucket>/<key>?endpoint=…).
	OwnerBucket           string
	ParamsURL, GenesisURL string
	// Owner is the subnet owner's key, which signed the genesis checkpoint.
	Owner bistro.Hotkey
	// Params are the subnet's, as published.
	Params bistro.Params
	// Participants are the validators, then the miners, in uid order.
	Participants []Participant
	// CommitmentRateLimit is the runtime's (Commitments.RateLimit, blocks);
	// ClearsCommitmentLimit says whether the devnet lifts it (see
	// Options.KeepCommitmentRateLimit).
	CommitmentRateLimit   uint64
	ClearsCommitmentLimit bool

	opts    Options
	log     *slog.Logger
	chop    *clienttest.Chopsticks
	srv     *s3test.Server
	md      *scale.Metadata
	clear   [][2][]byte // deletes of the participants' LastCommitment
	blocks  atomic.Uint64
	cancel  context.CancelFunc
	done    chan struct{}
	closeMu sync.Once
	err     error
}

// Start starts chopsticks and the S3 server, writes the wallets, seeds the
// subnet, publishes the release and starts building blocks. On error
// everything started is stopped again. ctx bounds the start only; the
// devnet runs until Close.
func Start(ctx context.Context, o Options) (_ *Devnet, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Devnet{opts: o, log: log, NetUID: o.NetUID, done: make(chan struct{})}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	d.opts.Dir = dir
	if err := d.prepareDirs(); err != nil {
		return nil, err
	}

	genesis, bin := o.Genesis, o.Chopsticks
	if genesis == "" {
		fx, err := scaletest.FindDir()
		if err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		genesis = filepath.Join(fx, "raonet.json")
	}
	if bin == "" {
		if bin, err = clienttest.FindChopsticks(); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
	}
	// Both servers start at once: each takes seconds on a loaded machine.
	var (
		wg     sync.WaitGroup
		s3Err  error
		chopAt = time.Now()
	)
	wg.Go(func() { d.srv, s3Err = s3test.Start(ctx) })
	d.chop, err = clienttest.StartChopsticks(ctx, bin, genesis, filepath.Join(dir, "logs"))
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("devnet: chopsticks: %w", err)
	}
	if s3Err != nil {
		return nil, fmt.Errorf("devnet: S3 server: %w", s3Err)
	}
	d.ChainURL = d.chop.URL
	d.S3 = S3{Endpoint: d.srv.Endpoint, Region: d.srv.Region, AccessKey: d.srv.AccessKey, SecretKey: d.srv.SecretKey}
	log.Info("devnet: chopsticks and S3 server up", "chain", d.ChainURL, "chopsticks_pid", d.chop.Pid(),
		"s3", d.S3.Endpoint, "s3_pid", d.srv.Pid(), "took", time.Since(chopAt).Round(time.Millisecond))

	// Manual mode: blocks come only from the producer's dev_newBlock, one
	// every BlockTime, and carry every extrinsic submitted since the last.
	// Instant mode (a block per extrinsic) would make blocks as fast as
	// participants submit — five participants setting weights and
	// committing would shorten the windows they are timing — and Batch
	// builds when the pool fills; neither is a steady clock.
	if err := d.chop.Call(ctx, "dev_setBlockBuildMode", []any{"Manual"}, nil); err != nil {
		return nil, fmt.Errorf("devnet: manual block mode: %w", err)
	}

	keys, err := d.makeWallets()
	if err != nil {
		return nil, err
	}
	head, err := d.seed(ctx, keys)
	if err != nil {
		return nil, err
	}
	if err := d.makeBuckets(ctx); err != nil {
		return nil, err
	}
	if err := d.release(ctx, keys.owner, head); err != nil {
		return nil, err
	}
	if o.SeedCommitments {
		if err := d.seedCommitments(ctx, head); err != nil {
			return nil, err
		}
	}

	pctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.produce(pctx)
	log.Info("devnet: running", "head", head, "first_window", d.Params.FirstWindow,
		"first_block", d.Params.FirstWindow*d.Params.BlocksPerWindow, "params", d.Params.Digest())
	return d, nil
}

func (d *Devnet) prepareDirs() error {
	dir := d.opts.Dir
	// Old state belongs to another chain and other Params.
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	for _, sub := range []string{"wallets", "state", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("devnet: %w", err)
		}
	}
	return nil
}

// makeBuckets creates a bucket per participant and the owner's, and fills
// in the participants' URLs, state folders and metrics addresses.
func (d *Devnet) makeBuckets(ctx context.Context) error {
	d.OwnerBucket = "bistro-owner"
	if _, err := d.srv.NewBucket(ctx, d.OwnerBucket); err != nil {
		return fmt.Errorf("devnet: bucket %s: %w", d.OwnerBucket, err)
	}
	for i := range d.Participants {
		p := &d.Participants[i]
		p.Bucket = "bistro-" + p.Name
		if _, err := d.srv.NewBucket(ctx, p.Bucket); err != nil {
			return fmt.Errorf("devnet: bucket %s: %w", p.Bucket, err)
		}
		p.BucketURL = d.BucketURL(p.Bucket, "")
		p.StateDir = filepath.Join(d.opts.Dir, "state", p.Name)
		if err := os.MkdirAll(p.StateDir, 0o755); err != nil {
			return fmt.Errorf("devnet: %w", err)
		}
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("devnet: metrics port: %w", err)
		}
		p.MetricsAddr = "127.0.0.1:" + strconv.Itoa(port)
	}
	buckets := []string{d.OwnerBucket}
	for _, p := range d.Participants {
		buckets = append(buckets, p.Bucket)
	}
	return d.makePublic(ctx, buckets)
}

// BucketURL returns the bistro.Open URL of a bucket on the devnet's S3
// server, with key as its path when not empty.
func (d *Devnet) BucketURL(bucket, key string) string {
	u := "s3://" + bucket
	if key != "" {
		u += "/" + key
	}
	// The endpoint stays readable, as storage/s3's README writes it.
	return u + "?endpoint=" + d.S3.Endpoint + "&path_style=1&region=" + url.QueryEscape(d.S3.Region)
}

// Env returns the environment a participant needs besides its flags: the
// devnet S3 server's throwaway root credentials, to write its bucket, and
// with Options.ReadKey the same key as the read key it announces.
func (d *Devnet) Env() []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + d.S3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + d.S3.SecretKey}
	if d.opts.ReadKey {
		env = append(env, "BISTRO_READ_ACCESS_KEY_ID="+d.S3.AccessKey, "BISTRO_READ_SECRET_ACCESS_KEY="+d.S3.SecretKey)
	}
	return env
}

// Blocks returns how many blocks the producer has built since Start.
func (d *Devnet) Blocks() uint64 { return d.blocks.Load() }

// Pids returns the process ids of chopsticks and of the S3 server.
func (d *Devnet) Pids() (chopsticks, s3 int) { return d.chop.Pid(), d.srv.Pid() }

// Chopsticks returns the chopsticks process, for raw RPC (dev_setStorage)
// in tests.
func (d *Devnet) Chopsticks() *clienttest.Chopsticks { return d.chop }

// Participant returns the participant called name.
func (d *Devnet) Participant(name string) (Participant, bool) {
	for _, p := range d.Participants {
		if p.Name == name {
			return p, true
		}
	}
	return Participant{}, false
}

// produce builds a block every BlockTime until ctx ends. A failed
// dev_newBlock is logged and the next tick tries again: the chain then
// runs late, never ahead. Ticks that come while a block is still being
// built are dropped (time.Ticker), for the same reason.
func (d *Devnet) produce(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.opts.BlockTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		began := time.Now()
		if err := d.chop.Call(ctx, "dev_newBlock", []any{map[string]any{"count": 1}}, nil); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("devnet: building a block failed; trying again next tick", "err", err)
			}
			continue
		}
		n := d.blocks.Add(1)
		if took := time.Since(began); took > d.opts.BlockTime {
			d.log.Warn("devnet: a block took longer than the block time; the chain runs late", "block", n, "took", took.Round(time.Millisecond))
		}
		if len(d.clear) > 0 {
			// In place at the new head, before any extrinsic of the next
			// block is applied (Manual mode applies them only in
			// dev_newBlock, which this goroutine alone calls).
			if err := d.chop.SetStorage(ctx, d.clear); err != nil && ctx.Err() == nil {
				d.log.Warn("devnet: clearing the commitment rate limit failed; trying again next block", "err", err)
			}
		}
	}
}

// Close stops the block producer, chopsticks and the S3 server (which
// removes its folder), and waits for each. It may be called twice.
func (d *Devnet) Close() error {
	d.closeMu.Do(func() { d.err = d.stop() })
	return d.err
}

func (d *Devnet) stop() error {
	var errs []error
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
	if d.chop != nil {
		errs = append(errs, d.chop.Close())
	}
	if d.srv != nil {
		errs = append(errs, d.srv.Close())
	}
	return errors.Join(errs...)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newClient connects a Subtensor client to the devnet's chain.
func (d *Devnet) newClient(ctx context.Context) (*client.Client, error) {
	o := client.DefaultOptions()
	o.Network = d.ChainURL
	return client.New(ctx, o)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
