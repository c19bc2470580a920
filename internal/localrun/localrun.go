// Package localrun runs a short local network whose buckets stay on disk and
// writes its Params beside them: real slice, aggregate and checkpoint files
// for the scoring examples and tests.
//
//	run, err := localrun.Make(ctx, dir, localrun.DefaultOptions())
//	// dir/params.json; dir/buckets/Validator0/bistro/v1/1/checkpoints/4.safetensors, …
//	// dir/buckets/Miner0/bistro/v1/1/6/<hotkey>.safetensors, …
//
// The folder layout is the local network's (localnet with Options.Dir):
// buckets/<participant>/<object key>.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/atomicfile"
	"github.com/bistro-go/bistro/localnet"
)

// DefaultOptions is a network of six windows with two honest miners, a lazy
// one and a noisy one, and one validator: a second on two cores, with
// checkpoints at windows 4 and 8 (the local network's checkpoint interval is
// 4 and its first window 2).
func DefaultOptions() localnet.Options {
	o := localnet.DefaultOptions()
	o.Windows = 6
	o.Miners = 2
	o.Validators = 1
	o.Adversaries = []localnet.Adversary{localnet.Lazy{}, localnet.Noise{}}
	o.Context, o.Embed, o.Hidden = 4, 8, 32
	o.PageLength = 128
	return o
}

// Run is a finished local network on disk.
type Run struct {
	// Dir holds params.json and buckets/.
	Dir string
	// Params are the network's, as written to Dir/params.json.
	Params bistro.Params
	// Report is the network's report.
	Report *localnet.Report
}

// ParamsPath is the path of the Params file.
func (r *Run) ParamsPath() string { return filepath.Join(r.Dir, "params.json") }

// Bucket is the folder of the named participant's bucket ("Validator0",
// "Miner1", "Adversary0-lazy").
func (r *Run) Bucket(name string) string { return filepath.Join(r.Dir, "buckets", name) }

// Object is the path of the object at key in the named participant's
// bucket.
func (r *Run) Object(bucket, key string) string {
	return filepath.Join(r.Bucket(bucket), filepath.FromSlash(key))
}

// Lead names the bucket that holds checkpoints: the lead's.
func (r *Run) Lead() (string, error) {
	buckets, err := os.ReadDir(filepath.Join(r.Dir, "buckets"))
	if err != nil {
		return "", err
	}
	for _, b := range buckets {
		if _, err := os.Stat(r.Object(b.Name(), bistro.CheckpointPrefix(r.Params.NetUID))); err == nil {
			return b.Name(), nil
		}
	}
	return "", errors.New("localrun: no bucket holds checkpoints")
}

// Slice is the path of the slice of window w by hotkey, in whichever
// bucket holds it; "" when none does.
func (r *Run) Slice(w uint64, hotkey string) string {
	hk, err := bistro.ParseHotkey(hotkey)
	if err != nil {
		return ""
	}
	buckets, _ := os.ReadDir(filepath.Join(r.Dir, "buckets"))
	for _, b := range buckets {
		path := r.Object(b.Name(), bistro.SliceKey(r.Params.NetUID, w, hk))
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	return ""
}

// Make runs the network of o in dir (o.Dir is set to it) and writes
// dir/params.json.
func Make(ctx context.Context, dir string, o localnet.Options) (*Run, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o.Dir, o.InMemory, o.S3 = dir, false, nil
	var p bistro.Params
	user := o.Params
	o.Params = func(q *bistro.Params) {
		if user != nil {
			user(q)
		}
		p = *q
	}
	rep, err := localnet.Run(ctx, o)
	if err != nil {
		return nil, err
	}
	// The network picks its first window after the hook ran: find the one
	// that gives the digest its files carry.
	want, err := filesDigest(dir, p.NetUID)
	if err != nil {
		return nil, err
	}
	found := false
	for fw := uint64(0); fw < 1<<12 && !found; fw++ {
		p.FirstWindow = fw
		found = p.Digest() == want
	}
	if !found {
		return nil, fmt.Errorf("localrun: no first window gives the params digest %s of the files", want)
	}
	run := &Run{Dir: dir, Params: p, Report: rep}
	var buf strings.Builder
	if err := bistro.WriteParams(&buf, &p); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(run.ParamsPath(), []byte(buf.String())); err != nil {
		return nil, err
	}
	return run, nil
}

// filesDigest returns the params digest of the first checkpoint found in a
// bucket under dir.
func filesDigest(dir string, netuid uint16) (bistro.Hash, error) {
	buckets, err := os.ReadDir(filepath.Join(dir, "buckets"))
	if err != nil {
		return bistro.Hash{}, err
	}
	for _, b := range buckets {
		ckdir := filepath.Join(dir, "buckets", b.Name(), filepath.FromSlash(bistro.CheckpointPrefix(netuid)))
		files, err := os.ReadDir(ckdir)
		if err != nil || len(files) == 0 {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(ckdir, files[0].Name()))
		if err != nil {
			return bistro.Hash{}, err
		}
		f, _, _, err := bistro.Inspect(raw, len(raw))
		if err != nil {
			return bistro.Hash{}, err
		}
		return f.Params, nil
	}
	return bistro.Hash{}, errors.New("localrun: no checkpoint in any bucket (run more windows than the checkpoint interval)")
}
