package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bistro-go/bistro"
)

// Metrics are a node's Prometheus metrics (names under bistro_; the Grafana
// dashboard in operator/grafana reads them).
type Metrics struct {
	Registry *prometheus.Registry

	Head, Finalized, Window   prometheus.Gauge
	ReplicaWindow, Behind     prometheus.Gauge
	replicaDigest             *prometheus.GaugeVec
	StorageSeconds            *prometheus.HistogramVec
	StorageErrors             *prometheus.CounterVec
	ChainErrors               *prometheus.CounterVec
	WeightsSet                prometheus.Counter
	Weight                    *prometheus.GaugeVec
	Scores                    *prometheus.CounterVec
	Lead                      prometheus.Gauge
	Published                 *prometheus.CounterVec
	TokensPerSecond, HeldOut  prometheus.Gauge
	UpdateSeconds             prometheus.Histogram
	mu                        sync.Mutex
	digest                    string
	ready                     bool
	lastHead                  time.Time
	readyWindow, replicaAt    uint64
	windowSeen, replicaSeenOK bool
}

// NewMetrics registers a node's metrics; counters of the participant's own
// Stats are added by the node with CounterFunc.
func NewMetrics(role Role) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	g := func(name, help string) prometheus.Gauge {
		x := prometheus.NewGauge(prometheus.GaugeOpts{Name: "bistro_" + name, Help: help})
		f(x)
		return x
	}
	m := &Metrics{Registry: r}
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bistro_build_info", Help: "the node's role"}, []string{"role"})
	f(bi)
	bi.WithLabelValues(role.String()).Set(1)
	m.Head = g("head_block", "the newest head seen")
	m.Finalized = g("finalized_block", "the highest finalized block seen")
	m.Window = g("window", "the window of the newest head")
	m.ReplicaWindow = g("replica_window", "the replica holds base(replica_window)")
	m.Behind = g("windows_behind", "window − replica_window (0 when the replica is at the current base)")
	m.replicaDigest = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bistro_replica_digest_info",
		Help: "1 for the replica's state digest prefix (8 hex digits)"}, []string{"prefix"})
	f(m.replicaDigest)
	m.StorageSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bistro_storage_seconds",
		Help:    "storage calls by operation: upload (own bucket writes), fetch (others' buckets), read, list, delete",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"op"})
	f(m.StorageSeconds)
	m.StorageErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bistro_storage_errors_total",
		Help: "failed storage calls by operation and kind (not_found, too_large, timeout, canceled, other)"}, []string{"op", "kind"})
	f(m.StorageErrors)
	m.ChainErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bistro_chain_errors_total",
		Help: "failed chain calls by call and kind"}, []string{"call", "kind"})
	f(m.ChainErrors)
	m.TokensPerSecond = g("tokens_per_second", "tokens per second of the last update computed (training or recomputation)")
	m.UpdateSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bistro_update_seconds",
		Help: "time of one update (Trainer.Update)", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)})
	f(m.UpdateSeconds)
	m.HeldOut = g("heldout_loss", "mean loss per token of the replica on held-out pages, at its newest base")
	if role == Validator {
		m.WeightsSet = prometheus.NewCounter(prometheus.CounterOpts{Name: "bistro_weights_set_total", Help: "weights set on chain"})
		f(m.WeightsSet)
		m.Weight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bistro_weight",
			Help: "the u16 weight last set for a uid"}, []string{"uid"})
		f(m.Weight)
		m.Scores = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bistro_scores_total",
			Help: "recomputations scored, by verdict"}, []string{"verdict"})
		f(m.Scores)
		m.Lead = g("lead", "1 when this validator published the aggregate of the newest window it processed")
		m.Published = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bistro_aggregates_published_total",
			Help: "aggregates published, as lead (rank 0) or by failover"}, []string{"as"})
		f(m.Published)
	}
	return m
}

// counterFunc registers a counter read from the node at scrape time.
func (m *Metrics) counterFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bistro_" + name, Help: help}, fn))
}

// gaugeFunc registers a gauge read from fn.
func (m *Metrics) gaugeFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bistro_" + name, Help: help}, fn))
}

// head notes a head from the chain.
func (m *Metrics) head(h bistro.Head, w uint64) {
	m.Head.Set(float64(h.Number))
	m.Finalized.Set(float64(h.Finalized))
	m.Window.Set(float64(w))
	m.mu.Lock()
	m.lastHead = time.Now()
	m.readyWindow, m.windowSeen = w, true
	m.update()
	m.mu.Unlock()
}

// replica notes the replica's new base.
func (m *Metrics) replica(w uint64, d bistro.Hash) {
	m.ReplicaWindow.Set(float64(w))
	prefix := d.String()
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	m.mu.Lock()
	if m.digest != "" {
		m.replicaDigest.DeleteLabelValues(m.digest)
	}
	m.digest = prefix
	m.replicaDigest.WithLabelValues(prefix).Set(1)
	m.replicaAt, m.replicaSeenOK = w, true
	m.update()
	m.mu.Unlock()
}

// update recomputes readiness and lag; m.mu held.
func (m *Metrics) update() {
	if !m.windowSeen || !m.replicaSeenOK {
		return
	}
	behind := uint64(0)
	if m.readyWindow > m.replicaAt {
		behind = m.readyWindow - m.replicaAt
	}
	m.Behind.Set(float64(behind))
	m.ready = behind == 0
}

// weights notes weights set.
func (m *Metrics) weights(uids []bistro.UID, w []uint16) {
	if m.Weight == nil {
		return
	}
	m.WeightsSet.Inc()
	m.Weight.Reset()
	for i, u := range uids {
		m.Weight.WithLabelValues(strconv.Itoa(int(u))).Set(float64(w[i]))
	}
}

// Serve serves /metrics, /healthz and /readyz on addr until ctx ends. It
// returns once listening, or the listen error.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics.addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		last := m.lastHead
		m.mu.Unlock()
		if last.IsZero() {
			fmt.Fprintln(w, "ok: starting")
			return
		}
		fmt.Fprintf(w, "ok: last head %s ago\n", time.Since(last).Round(time.Millisecond))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		ready, at, want := m.ready, m.replicaAt, m.readyWindow
		m.mu.Unlock()
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: replica at base(%d), current window %d\n", at, want)
			return
		}
		fmt.Fprintf(w, "ready: replica at base(%d)\n", at)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "metrics server:", err)
		}
	}()
	return ln.Addr(), nil
}

// errKind classifies an error for the metrics' kind label.
func errKind(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, bistro.ErrNotFound):
		return "not_found"
	case errors.Is(err, bistro.ErrTooLarge):
		return "too_large"
	case errors.Is(err, bistro.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	}
	return "other"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
