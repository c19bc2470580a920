// Package e2e runs the example binaries as separate OS processes on a local
// devnet with real parts — a Subtensor runtime under chopsticks producing
// blocks in real time, a real S3 server, btcli wallet folders — and checks
// what an operator would: weights on chain, the loss, agreement of every
// replica, a clean restart of a validator and a killed miner's recovery.
package e2e

import (
	"bufio"
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
	_ "github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/wallet"
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

	// BISTRO_E2E_LOGS keeps the processes' logs (they go with the test's
	// temporary folder otherwise).
	logs := filepath.Join(dir, "logs")
	if keep := os.Getenv("BISTRO_E2E_LOGS"); keep != "" {
		logs = keep
	}
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
	refusals(t, d, bin, filepath.Join(dir, "refusals"))
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
		if s := l.str("heldout_loss"); l.str("msg") == "heldout" && s != "" {
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
	// The network's ranking: each miner's weights summed over the
	// validators, read from the chain until both honest miners are above the
	// idle one (the verified-work ledger pays a miner once a later
	// recomputation confirms an earlier one, so a validator that restarted
	// may hold one miner's credit unvested for a few windows).
	var rows map[string]map[bistro.UID]uint16
	ranked := func() bool {
		rows = map[string]map[bistro.UID]uint16{}
		sum := map[bistro.UID]int{}
		for _, vn := range []string{"validator1", "validator2"} {
			vp, _ := d.Participant(vn)
			w, err := c.Weights(ctx, d.NetUID, vp.UID)
			require.NoError(t, err)
			rows[vn] = w
			for u, w := range rows[vn] {
				sum[u] += int(w)
			}
		}
		return sum[mp1.UID] > sum[mp3.UID] && sum[mp2.UID] > sum[mp3.UID]
	}
	waitFor(t, "weights on chain ranking both honest miners above the idle one", 8*window, ranked)
	for vn, w := range rows {
		t.Logf("%s's weights on chain: %v", vn, w)
		assert.Zero(t, w[mp3.UID], "%s pays the idle miner", vn)
	}

	// Every node reports itself healthy and, once its replica holds the
	// current window's base, ready.
	for _, name := range order {
		pr := procs[name]
		waitFor(t, name+" ready", 3*window, func() bool {
			for _, path := range []string{"/healthz", "/readyz"} {
				resp, err := http.Get("http://" + pr.metrics + path)
				if err != nil {
					return false
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return false
				}
			}
			return true
		})
	}

	// No log holds the secret key (the devnet announces its root key as the
	// read key: public on chain by design, never logged).
	for _, name := range order {
		b, err := os.ReadFile(procs[name].logPath)
		require.NoError(t, err)
		assert.NotContains(t, string(b), d.S3.SecretKey, "%s's log holds the secret key", name)
	}
	resp0, err := http.Get("http://" + v1.metrics + "/metrics")
	require.NoError(t, err)
	mb, _ := io.ReadAll(resp0.Body)
	resp0.Body.Close()
	assert.NotContains(t, string(mb), d.S3.SecretKey, "metrics hold the secret key")

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

// refusals starts the miner binary with configurations that cannot work on
// the devnet and expects exit status 2 and one line naming the fault: an
// unregistered hotkey, keys that cannot write the bucket, Params no
// validator announces.
func refusals(t *testing.T, d *devnet.Devnet, bin, dir string) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, e := range d.Env() {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	// The release, copied to a local folder (readable with wrong keys).
	rel := filepath.Join(dir, "release")
	require.NoError(t, os.MkdirAll(rel, 0o755))
	for _, u := range []string{d.ParamsURL, d.GenesisURL} {
		bucket, key, err := devnet.SplitObjectURL(u)
		require.NoError(t, err)
		st, err := bistro.Open(ctx, bucket)
		require.NoError(t, err)
		b, err := st.Get(ctx, key, 1<<30)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(rel, filepath.Base(key)), b, 0o644))
	}
	// Another release: the same θ₀, other Params.
	other := filepath.Join(dir, "other")
	require.NoError(t, os.MkdirAll(other, 0o755))
	q := d.Params
	q.LR.Base *= 2
	var pj strings.Builder
	require.NoError(t, bistro.WriteParams(&pj, &q))
	require.NoError(t, os.WriteFile(filepath.Join(other, "params.json"), []byte(pj.String()), 0o644))
	// Its genesis: θ₀ re-signed for those Params.
	gb, err := os.ReadFile(filepath.Join(rel, "genesis.safetensors"))
	require.NoError(t, err)
	g, layout, _, err := bistro.Inspect(gb, 1<<30)
	require.NoError(t, err)
	g.Params = q.Digest()
	owner, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)
	gb, err = bistro.Encode(g, layout, owner)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(other, "genesis.safetensors"), gb, 0o644))
	// A wallet whose hotkey holds no uid.
	k, err := wallet.KeyfileFromSeed(make([]byte, 32))
	require.NoError(t, err)
	require.NoError(t, wallet.New(filepath.Join(dir, "wallets"), "stranger").WriteHotkey("default", k, wallet.WriteOptions{}))

	m, _ := d.Participant("miner1")
	base := []string{"--wallet.path", m.WalletPath, "--wallet.name", m.Name, "--subtensor.chain_endpoint", d.ChainURL,
		"--netuid", strconv.Itoa(int(d.NetUID)), "--bucket", m.BucketURL, "--bucket.allow_private",
		"--state", filepath.Join(dir, "state"), "--metrics.addr", ""}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unregistered hotkey", []string{"--wallet.path", filepath.Join(dir, "wallets"), "--wallet.name", "stranger", "--params", filepath.Join(rel, "params.json")},
			nil, "is not registered on netuid"},
		{"keys cannot write", []string{"--params", filepath.Join(rel, "params.json")},
			[]string{"AWS_SECRET_ACCESS_KEY=not-the-secret"}, "cannot write"},
		{"params nobody announces", []string{"--params", filepath.Join(other, "params.json")},
			nil, "no validator of netuid"},
	}
	for _, c := range cases {
		args := append(append([]string{}, base...), c.args...)
		cmd := exec.Command(filepath.Join(bin, "miner"), args...)
		cmd.Env = append(append(os.Environ(), d.Env()...), c.env...)
		out, _ := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		assert.Equal(t, 2, cmd.ProcessState.ExitCode(), "%s: %s", c.name, out)
		assert.Contains(t, lines[len(lines)-1], c.want, c.name)
		assert.NotContains(t, string(out), "not-the-secret", c.name)
		assert.NotContains(t, string(out), d.S3.SecretKey, c.name)
		t.Logf("refused (%s): %s", c.name, lines[len(lines)-1])
	}
}
