package s3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// Options configure a Store. Start from DefaultOptions; New validates them.
// The zero value of a duration or count means its default.
//
// Credentials are chosen in this order: AccessKeyID and SecretAccessKey when
// set; none at all when Anonymous is set (unsigned requests: reads of public
// buckets); otherwise the AWS SDK's default chain — the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the shared
// config files, then the platform's — after the variables of DotEnv, when it
// is set, for those the environment does not define.
type Options struct {
	// Bucket is the bucket's name (required).
	Bucket string
	// Endpoint is the S3 endpoint URL, such as
	// "https://<account>.r2.cloudflarestorage.com" or "http://127.0.0.1:7070";
	// "" means AWS's endpoint for Region.
	Endpoint string
	// Region is the bucket's region ("auto" for R2). "" means the default
	// chain's region (AWS_REGION), else "us-east-1".
	Region string
	// PathStyle addresses the bucket as <endpoint>/<bucket>/<key> instead of
	// <bucket>.<endpoint>/<key>: what MinIO, versitygw and most local servers
	// need, and what a committed endpoint is always opened with.
	PathStyle bool

	// AccessKeyID, SecretAccessKey and SessionToken are a static key. The
	// secret never appears in errors, logs or Options' String.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Anonymous sends unsigned requests: reads of a public bucket.
	Anonymous bool
	// DotEnv names a .env file (KEY=value lines, as the original Python's
	// python-dotenv reads) whose AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
	// AWS_SESSION_TOKEN and AWS_REGION are used where the process
	// environment does not set them. The environment is not modified. ""
	// reads no file.
	DotEnv string

	// Timeout bounds each operation as a whole — every attempt, the backoff
	// between them and, for Get, reading the body. Default 5 minutes.
	Timeout time.Duration
	// HeaderTimeout bounds the wait for a response's headers after a
	// request was sent, per attempt; an attempt that times out is retried.
	// Default 30 seconds.
	HeaderTimeout time.Duration
	// DialTimeout bounds each TCP connect (and TLS handshake). Default 10 s.
	DialTimeout time.Duration
	// MaxAttempts is how many times a request is tried on a retryable
	// failure: a 5xx status, throttling (503 SlowDown, 429), a reset or
	// refused connection, a timeout, or a body cut short. Default 5; 1
	// disables retries.
	MaxAttempts int
	// BaseDelay and MaxBackoff shape the exponential backoff between
	// attempts: attempt n waits a random time in [d/2, d] with
	// d = min(BaseDelay·2ⁿ⁻¹, MaxBackoff). Defaults 100 ms and 5 s.
	BaseDelay  time.Duration
	MaxBackoff time.Duration
	// MaxIdleConns is how many idle connections to the endpoint are kept for
	// reuse; size it to the fetch concurrency. Default 64.
	MaxIdleConns int
	// MaxListed caps the objects one List returns, so that a hostile server
	// cannot page forever. Default 1,000,000.
	MaxListed int
	// HeadFirst makes Get ask the object's size (HEAD) before reading it, so
	// that an object over the cap costs no transfer at all. Without it Get
	// sends one ranged GET of at most max+1 bytes: half the round trips,
	// and an oversized object costs at most max+1 bytes on the wire, which
	// the caller's cap accepts anyway.
	HeadFirst bool
	// BufferLimit is the largest Put body from a reader that cannot seek
	// which is staged in memory before upload (so that it can be retried);
	// larger ones are staged in a temporary file. Default 64 MiB.
	BufferLimit int64
	// PartSize is the size of an object above which Put uploads it in
	// parts (a multipart upload), and the size of every part but the last:
	// all equal, as Cloudflare R2 requires. It grows (to a whole MiB) only
	// where an object would need more than S3's 10,000 parts. Default
	// 64 MiB; at least MinPartSize (5 MiB, S3's minimum).
	PartSize int64
	// PartConcurrency is how many parts of one object are uploaded at a
	// time; memory use is at most this many parts for a reader that can
	// seek but not read at an offset. Default 4.
	PartConcurrency int

	// Logger receives retries and failures at debug level, with the keys
	// "op", "bucket", "key", "attempt" and "err", and a multipart upload
	// that could not be aborted (its parts stay stored, invisible, until a
	// lifecycle rule removes them) at warn level; nil discards.
	Logger *slog.Logger
}

// DefaultOptions returns Options with every default filled in and no bucket.
func DefaultOptions() Options {
	return Options{
		Timeout:       5 * time.Minute,
		HeaderTimeout: 30 * time.Second,
		DialTimeout:   10 * time.Second,
		MaxAttempts:   5,
		BaseDelay:     100 * time.Millisecond,
		MaxBackoff:    5 * time.Second,
		MaxIdleConns:  64,
		MaxListed:     1_000_000,
		BufferLimit:   64 << 20,

		PartSize:        64 << 20,
		PartConcurrency: 4,
	}
}

// withDefaults fills the zero fields of o from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&o.Timeout, d.Timeout)
	setDur(&o.HeaderTimeout, d.HeaderTimeout)
	setDur(&o.DialTimeout, d.DialTimeout)
	setDur(&o.BaseDelay, d.BaseDelay)
	setDur(&o.MaxBackoff, d.MaxBackoff)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = d.MaxIdleConns
	}
	if o.MaxListed == 0 {
		o.MaxListed = d.MaxListed
	}
	if o.BufferLimit == 0 {
		o.BufferLimit = d.BufferLimit
	}
	if o.PartSize == 0 {
		o.PartSize = d.PartSize
	}
	if o.PartConcurrency == 0 {
		o.PartConcurrency = d.PartConcurrency
	}
	return o
}

// Validate reports the first bad option; it does not modify o. Zero values
// are valid (they mean the defaults).
func (o *Options) Validate() error {
	switch {
	case o.Bucket == "":
		return errors.New("s3: options: no Bucket")
	case o.AccessKeyID == "" != (o.SecretAccessKey == ""):
		return errors.New("s3: options: AccessKeyID and SecretAccessKey: both or neither")
	case o.SessionToken != "" && o.AccessKeyID == "":
		return errors.New("s3: options: SessionToken without AccessKeyID")
	case o.Anonymous && o.AccessKeyID != "":
		return errors.New("s3: options: Anonymous with a static key")
	case o.Anonymous && o.DotEnv != "":
		return fmt.Errorf("s3: options: Anonymous with DotEnv %q", o.DotEnv)
	case o.Timeout < 0 || o.HeaderTimeout < 0 || o.DialTimeout < 0 || o.BaseDelay < 0 || o.MaxBackoff < 0:
		return errors.New("s3: options: negative duration")
	case o.MaxAttempts < 0:
		return fmt.Errorf("s3: options: MaxAttempts %d < 0", o.MaxAttempts)
	case o.MaxIdleConns < 0 || o.MaxListed < 0 || o.BufferLimit < 0:
		return errors.New("s3: options: negative MaxIdleConns, MaxListed or BufferLimit")
	case o.PartSize != 0 && o.PartSize < MinPartSize:
		return fmt.Errorf("s3: options: PartSize %d < %d (S3's minimum part)", o.PartSize, MinPartSize)
	case o.PartConcurrency < 0:
		return fmt.Errorf("s3: options: PartConcurrency %d < 0", o.PartConcurrency)
	case o.BaseDelay > 0 && o.MaxBackoff > 0 && o.BaseDelay > o.MaxBackoff:
		return fmt.Errorf("s3: options: BaseDelay %v > MaxBackoff %v", o.BaseDelay, o.MaxBackoff)
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil {
			return fmt.Errorf("s3: options: endpoint: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("s3: options: endpoint %q: want http(s)://host[:port][/path]", u.Redacted())
		}
	}
	return nil
}

// String describes o without its secret.
func (o Options) String() string {
	secret := ""
	if o.SecretAccessKey != "" {
		secret = "REDACTED"
	}
	token := ""
	if o.SessionToken != "" {
		token = "REDACTED"
	}
	return fmt.Sprintf("s3.Options{Bucket:%q Endpoint:%q Region:%q PathStyle:%v AccessKeyID:%q SecretAccessKey:%q "+
		"SessionToken:%q Anonymous:%v DotEnv:%q Timeout:%v HeaderTimeout:%v MaxAttempts:%d}",
		o.Bucket, o.Endpoint, o.Region, o.PathStyle, o.AccessKeyID, secret, token, o.Anonymous, o.DotEnv,
		o.Timeout, o.HeaderTimeout, o.MaxAttempts)
}

// GoString is String, so that %#v does not print the secret either.
func (o Options) GoString() string { return o.String() }

// LogValue logs o without its secret.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("bucket", o.Bucket), slog.String("endpoint", o.Endpoint), slog.String("region", o.Region),
		slog.Bool("path_style", o.PathStyle), slog.String("access_key_id", o.AccessKeyID),
		slog.Bool("anonymous", o.Anonymous))
}
