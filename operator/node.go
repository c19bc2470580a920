package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/scoring"
	"github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/wallet"
)

// ConfigError is a configuration the node cannot start with: the binaries
// print its one line and exit 2.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(format string, a ...any) error { return &ConfigError{fmt.Errorf(format, a...)} }

// Node is one miner or validator process: its configuration checked, its
// dependencies open and observed. Build it with Setup, run it with
// RunMiner or RunValidator.
type Node struct {
	Role    Role
	Flags   Flags
	Log     *slog.Logger
	Release *Release
	Params  *bistro.Params
	Signer  bistro.Signer
	Client  *client.Client
	Metrics *Metrics
	// Config is what the loops get (its Chain, Buckets, Bucket and Trainer
	// observed by Metrics).
	Config bistro.Config
	// UID is the node's uid at start.
	UID bistro.UID

	win     bistro.Window
	heldOut [][]int32
	eval    evaluator
}

// NewLogger returns the node's logger: text or json on w, at info, debug
// (--logging.debug) or trace (--logging.trace, below debug).
func NewLogger(f *Flags, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case f.Trace:
		level = slog.LevelDebug - 4
	case f.Debug:
		level = slog.LevelDebug
	}
	o := &slog.HandlerOptions{Level: level}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// Setup checks the configuration and opens everything a node needs, in the
// order a person fixing a bad configuration would want: flags, wallet,
// Params (digest logged), chain, registration, weights path (validators),
// bucket (with a write probe), and whether the subnet's validators announce
// the same Params. Every refusal is a *ConfigError with one clear line.
func Setup(ctx context.Context, role Role, f *Flags, log *slog.Logger) (*Node, error) {
	if err := f.Check(role); err != nil {
		return nil, &ConfigError{err}
	}
	n := &Node{Role: role, Flags: *f, Log: log, Metrics: NewMetrics(role)}
	netuid := uint16(f.NetUID)

	// The wallet: only the hotkey is needed (a locked coldkey is fine).
	w := wallet.New(f.WalletPath, f.WalletName)
	if _, err := os.Stat(w.HotkeyPath(f.WalletHotkey)); err != nil {
		return nil, configErr("wallet %q hotkey %q: no keyfile at %s (create it with: btcli wallet new_hotkey --wallet.name %s --wallet.hotkey %s)",
			f.WalletName, f.WalletHotkey, w.HotkeyPath(f.WalletHotkey), f.WalletName, f.WalletHotkey)
	}
	signer, err := w.Hotkey(f.WalletHotkey)
	if err != nil {
		return nil, configErr("wallet %q hotkey %q: %v", f.WalletName, f.WalletHotkey, err)
	}
	n.Signer = signer
	log.Info("wallet", "name", f.WalletName, "hotkey", f.WalletHotkey, "ss58", signer.Hotkey().String())

	// The subnet's release: Params, θ₀, the dataset.
	rel, err := LoadRelease(ctx, f.Params)
	if err != nil {
		return nil, &ConfigError{err}
	}
	p := rel.Params
	if uint(p.NetUID) != f.NetUID {
		return nil, configErr("--params are for netuid %d, --netuid is %d", p.NetUID, f.NetUID)
	}
	n.Release, n.Params = rel, p
	log.Info("params", "from", rel.Where, "digest", p.Digest().String(), "model", p.Model.Arch,
		"parameters", p.Model.Parameters, "blocks_per_window", p.BlocksPerWindow)
	if n.win, err = bistro.NewWindows(p); err != nil {
		return nil, &ConfigError{err}
	}
	tr, _, err := scoring.NewTrainer(p)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if open, ok := device(f.Device); ok {
		// The device's trainer gives the CPU trainer's bits (its package's
		// promise); the CPU trainer above checked the Params' model.
		if tr, err = open(p); err != nil {
			return nil, configErr("--device %s: %v", f.Device, err)
		}
		log.Info("device", "device", f.Device)
	}
	genesis, err := rel.Genesis(ctx, tr)
	if err != nil {
		return nil, &ConfigError{err}
	}
	ds, err := rel.OpenDataset(ctx)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if ho, ok := ds.(interface {
		HeldOut(context.Context) ([][]int32, error)
	}); ok && f.EvalPages > 0 {
		pages, err := ho.HeldOut(ctx)
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("held-out pages: %w", err)}
		}
		n.heldOut = pages[:min(len(pages), f.EvalPages)]
	}

	// The chain.
	ep, _ := f.Endpoint()
	co := client.DefaultOptions()
	co.Network = ep
	co.DialTimeout = 15 * time.Second
	co.Logger = log.With("part", "subtensor")
	c, err := client.New(ctx, co)
	if err != nil {
		return nil, configErr("chain endpoint %s: %v", ep, err)
	}
	n.Client = c
	head, err := c.Head(ctx)
	if err != nil {
		c.Close()
		return nil, configErr("chain endpoint %s: %v", ep, err)
	}
	neurons, err := c.Neurons(ctx, netuid, head.Number)
	if err != nil {
		c.Close()
		if errors.Is(err, subtensor.ErrNoSubnet) {
			return nil, configErr("netuid %d does not exist on %s", netuid, ep)
		}
		return nil, configErr("reading netuid %d on %s: %v", netuid, ep, err)
	}
	me := signer.Hotkey()
	found := false
	for _, nr := range neurons {
		if nr.Hotkey == me {
			n.UID, found = nr.UID, true
			if role == Validator && !nr.ValidatorPermit {
				log.Warn("this hotkey has no validator permit yet: its weights will be refused until it has one", "uid", nr.UID)
			}
		}
	}
	if !found {
		c.Close()
		return nil, configErr("hotkey %s is not registered on netuid %d (btcli subnet register --netuid %d --wallet.name %s --wallet.hotkey %s)",
			me, netuid, netuid, f.WalletName, f.WalletHotkey)
	}
	log.Info("chain", "endpoint", ep, "head", head.Number, "finalized", head.Finalized, "uid", n.UID, "neurons", len(neurons))
	var chain bistro.Chain = c
	if role == Validator {
		path, err := c.WeightsPath(ctx, netuid, me)
		switch {
		case errors.Is(err, scale.ErrTimelockedCommitReveal):
			c.Close()
			return nil, configErr("netuid %d has commit_reveal_weights_enabled on with timelock (drand) encryption only, which this validator cannot do yet: ask the subnet owner to turn commit_reveal_weights_enabled off or use a runtime with commit_weights", netuid)
		case err != nil:
			c.Close()
			return nil, configErr("netuid %d weights: %v", netuid, err)
		case path == scale.HashCommitReveal:
			chain = CommitRevealChain(c, c, log)
			log.Info("weights through hash commit-reveal (the subnet's commit_reveal_weights_enabled is on)")
		}
	}

	// The bucket: open it, prove we can write it, and what to announce.
	st, announce, err := OpenBucket(ctx, f.Bucket)
	if err != nil {
		c.Close()
		return nil, &ConfigError{err}
	}
	check := announce
	check.Params = p.Digest()
	if _, err := check.Fields(); err != nil {
		c.Close()
		return nil, configErr("--bucket: the chain cannot hold this bucket's announcement: %v", err)
	}
	probe := fmt.Sprintf("bistro/v1/%d/probe/%s", netuid, me)
	if err := st.Put(ctx, probe, bytes.NewReader([]byte("bistro write probe")), 18); err != nil {
		c.Close()
		return nil, configErr("bucket %s: cannot write (%v): check the keys' permissions", announce.Bucket, err)
	}
	if err := st.Delete(ctx, probe); err != nil {
		log.Warn("bucket: cannot delete the write probe", "err", err)
	}
	log.Info("bucket", "bucket", announce.Bucket, "endpoint", announce.Endpoint, "region", announce.Region,
		"read_key", announce.ReadKeyID != "")

	// The subnet's validators must announce these Params.
	if err := checkAnnounced(ctx, c, netuid, neurons, me, p.Digest()); err != nil {
		c.Close()
		return nil, &ConfigError{err}
	}

	m := n.Metrics
	n.Config = bistro.Config{
		Params: p, Signer: signer,
		Chain:    observedChain{Chain: chain, m: m, window: n.win.Of},
		Buckets:  observedBuckets{Buckets: &s3.Buckets{AllowPrivate: f.AllowPrivate, Options: s3.Options{Logger: log.With("part", "s3")}}, m: m},
		Bucket:   observedStore{Storage: st, m: m, read: "read"},
		Announce: announce,
		Trainer:  observedTrainer{Trainer: tr, m: m}, Dataset: ds, Genesis: genesis,
		Logger: log,
	}
	m.counterFunc("rpc_reconnects_total", "connections to the chain dialled again after a loss", func() float64 { return float64(c.Reconnects()) })
	return n, nil
}

// checkAnnounced refuses Params no validator of the subnet announces, when
// at least one announces some: the node would be alone on its network.
func checkAnnounced(ctx context.Context, c *client.Client, netuid uint16, neurons []bistro.Neuron, me bistro.Hotkey, digest bistro.Hash) error {
	seen := map[bistro.Hash]int{}
	for _, nr := range neurons {
		if !nr.ValidatorPermit || nr.Hotkey == me {
			continue
		}
		fields, _, err := c.Commitment(ctx, netuid, nr.Hotkey)
		if err != nil {
			continue // none, or unreadable: not an announcement
		}
		cm, err := bistro.ParseCommitment(fields)
		if err != nil {
			continue
		}
		seen[cm.Params]++
	}
	if len(seen) == 0 || seen[digest] > 0 {
		return nil
	}
	var others []string
	for d, k := range seen {
		others = append(others, fmt.Sprintf("%s (%d validators)", d, k))
	}
	return fmt.Errorf("no validator of netuid %d announces Params %s; they announce %s: fetch the subnet's current --params",
		netuid, digest, strings.Join(others, ", "))
}

// OpenBucket opens the node's own bucket from --bucket and returns what to
// announce on chain. spec is an s3:// URL of the SDK's form, or a bucket
// name whose endpoint comes from $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL or
// $R2_ACCOUNT_ID (Cloudflare R2) and region from $AWS_REGION ("auto" for
// R2). The write keys come from the environment (or .env); a read-only key
// others use comes from $BISTRO_READ_ACCESS_KEY_ID and
// $BISTRO_READ_SECRET_ACCESS_KEY (it is public on chain; without one,
// readers read anonymously: a public bucket).
func OpenBucket(ctx context.Context, spec string) (bistro.Storage, bistro.Commitment, error) {
	var cm bistro.Commitment
	var u *url.URL
	if strings.HasPrefix(spec, "s3://") {
		var err error
		if u, err = url.Parse(spec); err != nil {
			return nil, cm, fmt.Errorf("--bucket: %w", err)
		}
	} else {
		if strings.Contains(spec, "://") || strings.ContainsAny(spec, "/?") {
			return nil, cm, fmt.Errorf("--bucket %q: want s3://NAME?endpoint=… or a bucket name", redact(spec))
		}
		q := url.Values{}
		region := os.Getenv("AWS_REGION")
		switch {
		case os.Getenv("AWS_ENDPOINT_URL_S3") != "":
			q.Set("endpoint", os.Getenv("AWS_ENDPOINT_URL_S3"))
		case os.Getenv("AWS_ENDPOINT_URL") != "":
			q.Set("endpoint", os.Getenv("AWS_ENDPOINT_URL"))
		case os.Getenv("R2_ACCOUNT_ID") != "":
			q.Set("endpoint", "https://"+os.Getenv("R2_ACCOUNT_ID")+".r2.cloudflarestorage.com")
			if region == "" {
				region = "auto"
			}
		}
		if region != "" {
			q.Set("region", region)
		}
		u = &url.URL{Scheme: "s3", Host: spec, RawQuery: q.Encode()}
	}
	q := u.Query()
	cm.Bucket, cm.Endpoint, cm.Region = u.Host, q.Get("endpoint"), q.Get("region")
	if cm.Region == "" {
		cm.Region = os.Getenv("AWS_REGION")
	}
	if cm.Region == "" {
		cm.Region = "us-east-1"
	}
	if cm.Endpoint == "" {
		cm.Endpoint = "https://s3." + cm.Region + ".amazonaws.com"
	}
	cm.ReadKeyID, cm.ReadSecret = os.Getenv("BISTRO_READ_ACCESS_KEY_ID"), os.Getenv("BISTRO_READ_SECRET_ACCESS_KEY")
	if (cm.ReadKeyID == "") != (cm.ReadSecret == "") {
		return nil, cm, errors.New("--bucket: set both BISTRO_READ_ACCESS_KEY_ID and BISTRO_READ_SECRET_ACCESS_KEY, or neither")
	}
	st, err := bistro.Open(ctx, u.String())
	if err != nil {
		return nil, cm, fmt.Errorf("--bucket: %w", err)
	}
	return st, cm, nil
}

// stateDir creates the node's state folder (--state) and returns its
// absolute path.
func (n *Node) stateDir() (string, error) {
	d := n.Flags.StateDir()
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", configErr("--state %s: %v", d, err)
	}
	return filepath.Abs(d)
}
