// Package e2e runs the example binaries as separate OS processes on a local
// devnet with real parts — a Subtensor runtime under chopsticks producing
// blocks in real time, a real S3 server, btcli wallet folders — and checks
// what an operator would: weights on chain, the loss, agreement of every
// replica, a clean restart of a validator and a killed miner's recovery.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/devnet"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/scale"
)

// proc is one participant's OS process.
type proc struct {
	name    string
	args    []string
	env     []string
	logPath string
	metrics string // host:port

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	runs int
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start(), p.name)
	p.cmd, p.done, p.runs = cmd, make(chan struct{}), p.runs+1
	done := p.done
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// signal sends sig and waits up to limit for the process to end, returning
// its exit code (-1 when it did not end).
func (p *proc) signal(sig syscall.Signal, limit time.Duration) int {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(limit):
		return -1
	}
	return cmd.ProcessState.ExitCode()
}

func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// metric returns the value of a metric line (name with its labels exactly
// as exposed), or false.
func (p *proc) metric(name string) (float64, bool) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// logLine is one JSON log line of a node.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }
func (l logLine) num(k string) (float64, bool) {
	v, ok := l[k].(float64)
	return v, ok
}

// lines reads the node's JSON log lines so far.
func (p *proc) lines(t *testing.T) []logLine {
	t.Helper()
	f, err := os.Open(p.logPath)
	require.NoError(t, err)
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

func (p *proc) tail(t *testing.T, n int) string {
	b, _ := os.ReadFile(p.logPath)
	s := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return strings.Join(s, "\n")
}

// waitFor polls cond every second until it holds or limit passes. The
// limits follow the chain's progress (a window is 12 s of blocks), with
// room for a loaded machine.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(time.Second)
	}
}

func build(t *testing.T, dir string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	for name, pkg := range map[string]string{"miner": "./examples/miner", "validator": "./examples/validator", "idleminer": "./internal/e2e/idleminer"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", pkg, out)
	}
}

// weightsOf reads validator uid's weights row from the runtime's storage
// (SubtensorModule.Weights): target uid → u16 weight.
func weightsOf(t *testing.T, ctx context.Context, c *client.Client, netuid uint16, uid bistro.UID) map[bistro.UID]uint16 {
	t.Helper()
	md, err := c.Metadata(ctx, bistro.Hash{})
	require.NoError(t, err)
	k, err := md.StorageKey(scale.PalletSubtensor, "Weights", netuid, uint16(uid))
	require.NoError(t, err)
	b, err := c.Storage(ctx, k, bistro.Hash{})
	require.NoError(t, err)
	out := map[bistro.UID]uint16{}
	if b == nil {
		return out
	}
	v, err := md.DecodeStorage(scale.PalletSubtensor, "Weights", b)
	require.NoError(t, err)
	for _, e := range v.([]scale.Value) {
		var pair []scale.Value
		switch x := e.(type) {
		case []scale.Value:
			pair = x
		case scale.Composite:
			for _, f := range x {
				pair = append(pair, f.Value)
			}
		}
		require.Len(t, pair, 2)
		out[bistro.UID(pair[0].(uint16))] = pair[1].(uint16)
	}
	return out
}

var digestRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

// TestEndToEnd: two honest miners, one idle miner and two validators, each
// its own process with its own wallet and bucket, on the devnet in real
// time.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end test runs in real time (about 4 minutes)")
	}
	ctx := t.Context()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	build(t, bin)

	o := devnet.DefaultOptions(filepath.Join(dir, "devnet"))
	o.Validators, o.Miners = 2, 3
	flags := []string{"--logging.format", "json", "--logging.debug"}
	o.MinerFlags, o.ValidatorFlags = flags, append(flags, "--sample", "3")
	d, err := devnet.Start(ctx, o)
	require.NoError(t, err)
	defer d.Close()
	p := d.Params
	t.Logf("devnet: %s, netuid %d, %d blocks of %d ms a window, first window %d, checkpoint every %d",
		d.ChainURL, d.NetUID, p.BlocksPerWindow, p.BlockTimeMS, p.FirstWindow, p.CheckpointInterval)

	logs := filepath.Join(dir, "logs")
	require.NoError(t, os.MkdirAll(logs, 0o755))
	procs := map[string]*proc{}
	var order []string
	for _, c := range d.Commands(bin) {
		args := c.Args
		if c.Participant == "miner3" { // the one that does no work
			args = append([]string{filepath.Join(bin, "idleminer")}, args[1:]...)
		}
		pt, _ := d.Participant(c.Participant)
		env := c.Env
		procs[c.Participant] = &proc{name: c.Participant, args: args, env: env,
			logPath: filepath.Join(logs, c.Participant+".log"), metrics: pt.MetricsAddr}
		order = append(order, c.Participant)
	}
	defer func() {
		for _, name := range order {
			procs[name].stop()
		}
		if t.Failed() {
			for _, name := range order {
				t.Logf("--- %s (last lines)\n%s", name, procs[name].tail(t, 25))
			}
		}
	}()
	for _, name := range order {
		procs[name].start(t)
	}
	v1, v2, m1 := procs["validator1"], procs["validator2"], procs["miner1"]
	window := 12 * time.Second
	replica := func(pr *proc) uint64 {
		v, ok := pr.metric("bistro_replica_window")
		if !ok {
			return 0
		}
		return uint64(v)
	}
	everyoneUp := func() bool {
		for _, name := range order {
			if !procs[name].alive() {
				t.Fatalf("%s exited: %s", name, procs[name].tail(t, 20))
			}
		}
		return true
	}

	// Six windows of training with everyone up.
	waitFor(t, "six windows applied by validator1", 30*window+60*time.Second, func() bool {
		return everyoneUp() && replica(v1) >= p.FirstWindow+6
	})
	// The held-out loss of the earliest window validator1 reports.
	loss0, w0 := 0.0, uint64(0)
	for _, l := range v1.lines(t) {
		if s := l.str("heldout_loss"); l.str("msg") == "window" && s != "" {
			w, _ := l.num("window")
			loss0, _ = strconv.ParseFloat(s, 64)
			w0 = uint64(w)
			break
		}
	}
	require.NotZero(t, loss0, "validator1 reports the held-out loss")

	// A validator sent SIGTERM stops cleanly and resumes its ledger; a
	// miner killed outright comes back from a checkpoint.
	code := v2.signal(syscall.SIGTERM, 40*time.Second)
	require.Equal(t, 0, code, "validator2 after SIGTERM:\n%s", v2.tail(t, 15))
	_, err = os.Stat(filepath.Join(o.Dir, "state", "validator2", "ledger.json"))
	require.NoError(t, err, "the ledger is persisted")
	m1.signal(syscall.SIGKILL, 10*time.Second)
	require.False(t, m1.alive(), "miner1 killed")
	killedAt := replica(v1)
	time.Sleep(window) // the network goes on without them for a while
	v2.start(t)
	m1.start(t)

	// miner1's uid and the windows it is scored in after the restart.
	mp1, _ := d.Participant("miner1")
	scoredAfter := func(pr *proc, uid bistro.UID, after uint64) bool {
		for _, l := range pr.lines(t) {
			if l.str("msg") != "scored" {
				continue
			}
			u, _ := l.num("uid")
			w, _ := l.num("window")
			if bistro.UID(u) == uid && uint64(w) > after && l.str("verdict") == "pass" {
				return true
			}
		}
		return false
	}
	waitFor(t, "miner1 back from a checkpoint and scored again", 20*window+60*time.Second, func() bool {
		everyoneUp()
		loads, _ := m1.metric("bistro_checkpoint_loads_total")
		return loads >= 1 && (scoredAfter(v1, mp1.UID, killedAt+1) || scoredAfter(v2, mp1.UID, killedAt+1))
	})
	waitFor(t, "validator2 current again", 10*window+30*time.Second, func() bool {
		return everyoneUp() && replica(v2) >= replica(v1)-1 && replica(v1) >= killedAt+4
	})
	loss1, ok := v1.metric("bistro_heldout_loss")
	require.True(t, ok)

	// The validator resumed its ledger.
	var resumed float64 = -1
	for _, l := range v2.lines(t) {
		if l.str("msg") == "validating" {
			if n, ok := l.num("ledger_miners"); ok {
				resumed = n // the last start's
			}
		}
	}
	assert.GreaterOrEqual(t, resumed, 1.0, "validator2 restarted with its ledger")

	// Held-out loss falls.
	t.Logf("held-out loss: %.4f at window %d, %.4f at window %d", loss0, w0, loss1, replica(v1))
	assert.Less(t, loss1, loss0)

	// Every process's replica agrees at every window they both reached.
	seen := map[uint64]map[string]string{} // window → process → digest prefix
	for _, name := range order {
		for _, l := range procs[name].lines(t) {
			if l.str("msg") != "window" {
				continue
			}
			w, _ := l.num("window")
			dg := l.str("replica")
			require.Regexp(t, digestRE, dg)
			if seen[uint64(w)] == nil {
				seen[uint64(w)] = map[string]string{}
			}
			seen[uint64(w)][name] = dg
		}
	}
	common := 0
	for w, by := range seen {
		var first string
		for name, dg := range by {
			if first == "" {
				first = dg
			}
			assert.Equal(t, first, dg, "window %d: %s holds another replica (%v)", w, name, by)
		}
		if len(by) == len(order) {
			common++
		}
	}
	assert.GreaterOrEqual(t, common, 6, "windows every process reached")

	// Weights read back from the runtime rank both honest miners above the
	// idle one, for every validator.
	co := client.DefaultOptions()
	co.Network = d.ChainURL
	c, err := client.New(ctx, co)
	require.NoError(t, err)
	defer c.Close()
	mp2, _ := d.Participant("miner2")
	mp3, _ := d.Participant("miner3")
	for _, vn := range []string{"validator1", "validator2"} {
		vp, _ := d.Participant(vn)
		w := weightsOf(t, ctx, c, d.NetUID, vp.UID)
		t.Logf("%s's weights on chain: %v", vn, w)
		assert.Greater(t, w[mp1.UID], w[mp3.UID], "%s: miner1 above the idle miner", vn)
		assert.Greater(t, w[mp2.UID], w[mp3.UID], "%s: miner2 above the idle miner", vn)
	}

	// What an operator sees: the start-up lines, a window's progress line,
	// and the metrics.
	for _, l := range v1.lines(t) {
		if l.str("msg") == "window" {
			b, _ := json.Marshal(l)
			t.Logf("validator1 progress line: %s", b)
			break
		}
	}
	resp, err := http.Get("http://" + v1.metrics + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var excerpt []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "bistro_") {
			excerpt = append(excerpt, line)
		}
	}
	t.Logf("validator1 /metrics (bistro_ lines):\n%s", strings.Join(excerpt, "\n"))
}
