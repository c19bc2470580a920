package s3

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/netguard"
)

// httpClient is the SDK's HTTP client: one transport with the Options'
// timeouts, no transparent decompression (lengths must be the wire's), and
// no redirects (a committed endpoint must not send us elsewhere).
type httpClient struct{ c *http.Client }

func (h *httpClient) Do(r *http.Request) (*http.Response, error) { return h.c.Do(r) }

// closeIdle closes the idle connections of the client's transport.
func (h *httpClient) closeIdle() { h.c.CloseIdleConnections() }

// newHTTPClient builds the client. publicOnly dials through
// netguard.DialControl and ignores proxy settings, for endpoints read
// from the chain: whatever a name resolves to, no private address is reached.
func newHTTPClient(o Options, publicOnly bool) *httpClient {
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	proxy := http.ProxyFromEnvironment
	if publicOnly {
		d.Control = netguard.DialControl
		proxy = nil
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(o.MaxIdleConns, 100),
		MaxIdleConnsPerHost:   o.MaxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.DialTimeout,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: o.HeaderTimeout,
		DisableCompression:    true,
	}
	return &httpClient{c: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// newRetryer is the SDK's standard retryer with our attempts and backoff,
// without its client-side retry quota (whose exhaustion under a burst of
// failures would fail requests that one more attempt would have served), and
// with bodies cut short counted as retryable.
func newRetryer(o Options, log *slog.Logger) aws.Retryer {
	std := retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = o.MaxAttempts
		so.MaxBackoff = o.MaxBackoff
		so.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return backoff(o, attempt), nil
		})
		so.RateLimiter = ratelimit.None
		// A refused address stays refused: the dial error would otherwise
		// count as a retryable connection error.
		so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, bistro.ErrEndpoint) {
				return aws.FalseTernary
			}
			return aws.UnknownTernary
		})}, so.Retryables...)
		so.Retryables = append(so.Retryables, retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return aws.TrueTernary
			}
			return aws.UnknownTernary
		}))
	})
	return &loggingRetryer{RetryerV2: std, log: log}
}

// loggingRetryer logs each retry at debug level.
type loggingRetryer struct {
	aws.RetryerV2
	log *slog.Logger
}

func (r *loggingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.RetryerV2.RetryDelay(attempt, err)
	r.log.Debug("s3: retrying", "attempt", attempt, "delay", d, "err", err)
	return d, derr
}

// backoff is the delay after the attempt-th failure: a random time in
// [d/2, d], d = min(BaseDelay·2^(attempt-1), MaxBackoff). The jitter spreads
// the retries of many readers; it needs no unpredictability.
func backoff(o Options, attempt int) time.Duration {
	d := o.MaxBackoff
	if attempt >= 1 && attempt < 31 {
		d = min(o.BaseDelay<<(attempt-1), o.MaxBackoff)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
