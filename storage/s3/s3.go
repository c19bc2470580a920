// Package s3 is the real bistro.Storage: a bucket on any S3-compatible
// service (AWS S3, Cloudflare R2, MinIO, versitygw), through
// github.com/aws/aws-sdk-go-v2. Its Buckets opens other participants' buckets
// from their on-chain commitments, obeying the endpoint rule.
//
// Importing it registers the "s3" scheme:
//
//	import _ "github.com/bistro-go/bistro/storage/s3"
//
//	st, err := bistro.Open(ctx, "s3://my-bucket?endpoint=https://acct.r2.cloudflarestorage.com&region=auto")
//	if err != nil { … }
//	err = st.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
//	got, err := st.Get(ctx, key, maxBytes)
//
// or, without the registry, with every option at hand:
//
//	o := s3.DefaultOptions()
//	o.Bucket, o.Endpoint, o.Region = "my-bucket", "https://acct.r2.cloudflarestorage.com", "auto"
//	o.DotEnv = ".env" // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as the original reads
//	st, err := s3.New(ctx, o)
//
// # URLs
//
//	s3://<bucket>[?endpoint=<url>][&region=<region>][&path_style=1][&anonymous=1]
//	    [&dotenv=<path>][&timeout=<duration>][&attempts=<n>]
//	    [&part_size=<bytes>][&part_concurrency=<n>]
//
// endpoint is the service's URL (query-escape it if it has a query of its
// own; it should not), region defaults as in Options, path_style=1 (or true)
// addresses the bucket by path, anonymous=1 sends unsigned requests (public
// buckets), dotenv reads credentials from a .env file, timeout bounds each
// operation (a Go duration, "30s"), attempts is Options.MaxAttempts,
// part_size is Options.PartSize (bytes, or with a KiB, MiB or GiB suffix:
// "64MiB") and part_concurrency is Options.PartConcurrency.
// Credentials never go in the URL: a user part is refused, so that a logged
// URL cannot leak a secret; they come from the environment, a .env file or
// the platform. An unknown parameter is an error, so a typo cannot silently
// change the bucket opened.
//
// # Guarantees
//
// Keys are checked with bistro.ValidKey before any request. A missing object
// is bistro.ErrNotFound (wrapped). Get never reads more than max+1 bytes of a
// body, whatever the server claims: it asks for the Range of the first max+1
// bytes, refuses an object whose announced size (Content-Range, or
// Content-Length from a server that ignores ranges) exceeds max with
// bistro.ErrTooLarge without reading its body, stops reading at max+1 bytes
// from a server that sends more than it announced, and checks the length it
// got against the lengths announced. With Options.HeadFirst it asks the size
// by HEAD first, which saves the transfer of up to max+1 bytes of an
// oversized object at the price of a round trip on every Get. A Put whose reader yields another number of bytes than declared
// stores nothing: readers that can seek are measured before the upload, others
// are staged (in memory up to Options.BufferLimit, in a temporary file beyond)
// so that retries can resend them. An object larger than Options.PartSize is
// sent as a multipart upload in parts of one size (R2 requires equal parts),
// PartConcurrency at a time, each part retried; any failure or the end of
// ctx aborts the upload, so that nothing of it stays or becomes visible
// (Options.Timeout then bounds each request, not the whole upload). List
// follows continuation tokens and returns keys sorted. Every call honours
// ctx and Options.Timeout; transient failures
// (5xx, throttling, resets, timeouts, truncated bodies) are retried with
// exponential backoff up to Options.MaxAttempts. Secrets are never in errors
// or logs.
//
// A server's Modified time is its own word: the protocol decides "on time" by
// what the reader saw when it processed the deadline block, never by it; and a
// reader identifies what it got by hashing the bytes, never by the ETag.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/joho/godotenv"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/internal/objio"
)

// Scheme is the URL scheme this package registers.
const Scheme = "s3"

func init() {
	bistro.Register(Scheme, open)
}

// ErrNoBucket is wrapped when the bucket itself does not exist. It is not
// bistro.ErrNotFound: a missing bucket is a configuration error, not a
// missing object. (Stat cannot tell the two apart — a HEAD response has no
// error code — and says bistro.ErrNotFound.)
var ErrNoBucket = errors.New("s3: no such bucket")

// Store is a bucket on an S3 service. It is safe for concurrent use. Get
// returns a new slice the caller owns; Put does not keep the caller's reader
// or buffer after it returns.
type Store struct {
	client *s3.Client
	bucket string
	opts   Options
	log    *slog.Logger
}

var _ bistro.Storage = (*Store)(nil)

// New returns a Store for o.Bucket. It validates o and resolves where the
// credentials come from, but sends no request: a wrong endpoint or key shows
// at the first operation.
func New(ctx context.Context, o Options) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return newStore(ctx, o, newHTTPClient(o, false))
}

// newStore makes the Store on an HTTP client that may be shared (Buckets).
func newStore(ctx context.Context, o Options, hc *httpClient) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	creds, region, err := resolveCredentials(ctx, o)
	if err != nil {
		return nil, err
	}
	so := s3.Options{
		Region:       region,
		UsePathStyle: o.PathStyle,
		Credentials:  creds,
		HTTPClient:   hc,
		Retryer:      newRetryer(o, log),
		// Integrity is the protocol's: readers hash what they got and check
		// signatures. Flexible checksums (trailers, CRC headers) are not
		// supported by every S3-compatible service, so ask only where the
		// API requires them.
		RequestChecksumCalculation:                aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:                aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
		Logger: logging.Nop{},
	}
	if o.Endpoint != "" {
		so.BaseEndpoint = aws.String(o.Endpoint)
	}
	return &Store{client: s3.New(so), bucket: o.Bucket, opts: o, log: log}, nil
}

// resolveCredentials picks the credentials and the region as Options says.
func resolveCredentials(ctx context.Context, o Options) (aws.CredentialsProvider, string, error) {
	region := o.Region
	switch {
	case o.AccessKeyID != "":
		return credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken),
			cmp(region, "us-east-1"), nil
	case o.Anonymous:
		return aws.AnonymousCredentials{}, cmp(region, "us-east-1"), nil
	}
	if o.DotEnv != "" {
		env, err := godotenv.Read(o.DotEnv)
		if err != nil {
			// godotenv's errors name the file and the line, never a value.
			return nil, "", fmt.Errorf("s3: dotenv: %w", err)
		}
		id, secret := envOr("AWS_ACCESS_KEY_ID", env), envOr("AWS_SECRET_ACCESS_KEY", env)
		region = cmp(region, envOr("AWS_REGION", env))
		if id != "" && secret != "" {
			return credentials.NewStaticCredentialsProvider(id, secret, envOr("AWS_SESSION_TOKEN", env)),
				cmp(region, "us-east-1"), nil
		}
		if id != "" || secret != "" {
			return nil, "", fmt.Errorf("s3: dotenv %q: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: both or neither", o.DotEnv)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, "", fmt.Errorf("s3: default credentials: %w", err)
	}
	return cfg.Credentials, cmp(region, cfg.Region, "us-east-1"), nil
}

// envOr returns the process environment's value of name, else the file's.
func envOr(name string, file map[string]string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return file[name]
}

// cmp returns the first non-empty string.
func cmp(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// open is the driver for s3:// URLs.
func open(ctx context.Context, u *url.URL) (bistro.Storage, error) {
	if u.User != nil {
		return nil, errors.New("s3: url: credentials in the URL are refused (use the environment or dotenv=)")
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.Fragment != "" {
		return nil, fmt.Errorf("s3: url %q: want s3://bucket?endpoint=…&region=…", u.Redacted())
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("s3: url query: %w", err)
	}
	o := DefaultOptions()
	o.Bucket = u.Host
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, fmt.Errorf("s3: url: parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			o.Endpoint = v
		case "region":
			o.Region = v
		case "path_style":
			o.PathStyle, err = strconv.ParseBool(v)
		case "anonymous":
			o.Anonymous, err = strconv.ParseBool(v)
		case "dotenv":
			o.DotEnv = v
		case "timeout":
			o.Timeout, err = time.ParseDuration(v)
		case "attempts":
			o.MaxAttempts, err = strconv.Atoi(v)
		case "part_size":
			o.PartSize, err = parseBytes(v)
		case "part_concurrency":
			o.PartConcurrency, err = strconv.Atoi(v)
		default:
			return nil, fmt.Errorf("s3: url: unknown parameter %q", k)
		}
		if err != nil {
			return nil, fmt.Errorf("s3: url: parameter %q: %w", k, err)
		}
	}
	return New(ctx, o)
}

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// CreateBucket creates the bucket; a bucket that exists and is the caller's
// already is not an error. Participants usually create theirs with the
// provider's console; local networks and tests use this.
func (s *Store) CreateBucket(ctx context.Context) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return s.fail(ctx, "create bucket", "", err)
	}
	return nil
}

// opContext bounds one operation by Options.Timeout.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// check returns ctx's error, then the key's.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return bistro.ValidKey(key)
}

// Put stores size bytes read from r under key, replacing any object. Nothing
// is stored if r yields another number of bytes, fails, or ctx ends before
// the upload completes. Objects larger than Options.PartSize go up as a
// multipart upload, aborted on any failure.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("s3: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("s3: put %q: %w: negative size %d", key, objio.ErrSize, size)
	}
	if size > s.opts.PartSize {
		return s.putMultipart(ctx, key, r, size)
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	body, done, err := s.stage(ctx, r, size)
	if err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	defer done()
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: body, ContentLength: aws.Int64(size),
	})
	if err != nil {
		return s.fail(ctx, "put", key, err)
	}
	return nil
}

// stage returns a body of exactly size bytes that the SDK can rewind for a
// retry, and a function that releases it. A reader that can seek is measured
// and used in place; any other is copied, to memory up to BufferLimit and to
// a temporary file beyond.
func (s *Store) stage(ctx context.Context, r io.Reader, size int64) (io.ReadSeeker, func(), error) {
	nothing := func() {}
	if rs, ok := r.(io.ReadSeeker); ok {
		if n, err := remaining(rs); err == nil {
			if n != size {
				return nil, nil, fmt.Errorf("%w: reader has %d bytes, declared %d", objio.ErrSize, n, size)
			}
			// Used in place: net/http stops sending it when ctx ends.
			return rs, nothing, nil
		}
	}
	if size <= s.opts.BufferLimit {
		b, err := objio.ReadExact(ctx, r, size, s.opts.BufferLimit)
		if err != nil {
			return nil, nil, err
		}
		return bytes.NewReader(b), nothing, nil
	}
	f, err := os.CreateTemp("", "bistro-s3-put-*")
	if err != nil {
		return nil, nil, fmt.Errorf("staging file: %w", err)
	}
	cleanup := func() {
		f.Close()
		os.Remove(f.Name())
	}
	if err := objio.CopyExact(ctx, f, r, size, make([]byte, 1<<20)); err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("staging file: %w", err)
	}
	return f, cleanup, nil
}

// remaining returns how many bytes rs holds from its current offset, leaving
// the offset where it was.
func remaining(rs io.ReadSeeker) (int64, error) {
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

// Get returns the object's bytes. It reads at most max+1 bytes of any body:
// an object larger than max gives bistro.ErrTooLarge, announced (by the
// GET's lengths, or HEAD with Options.HeadFirst) or discovered (a server
// sending more than it said). A body cut short is retried, never returned.
func (s *Store) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, fmt.Errorf("s3: get: %w", err)
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		b, err := s.getOnce(ctx, key, max)
		if err == nil {
			return b, nil
		}
		var retry *retryBody
		if !errors.As(err, &retry) || attempt >= s.opts.MaxAttempts || ctx.Err() != nil {
			return nil, s.fail(ctx, "get", key, err)
		}
		s.log.Debug("s3: retrying a body", "op", "get", "bucket", s.bucket, "key", key, "attempt", attempt, "err", err)
		if err := sleep(ctx, backoff(s.opts, attempt)); err != nil {
			return nil, s.fail(ctx, "get", key, err)
		}
	}
}

// retryBody marks a failure of one HEAD-then-GET that another try may cure:
// the body was cut short or the object changed in between.
type retryBody struct{ err error }

func (e *retryBody) Error() string { return e.err.Error() }
func (e *retryBody) Unwrap() error { return e.err }

func (s *Store) getOnce(ctx context.Context, key string, max int64) ([]byte, error) {
	if s.opts.HeadFirst || max < 0 {
		size, err := s.size(ctx, key)
		if err != nil {
			return nil, err
		}
		switch {
		case max < 0 || size > max:
			return nil, fmt.Errorf("%w: %d bytes, cap %d", bistro.ErrTooLarge, size, max)
		case size == 0:
			return []byte{}, nil
		}
	}
	// Ask for at most max+1 bytes: one byte more than the cap is enough to
	// know the object is too large, and the rest is never sent.
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=0-%d", max)),
	})
	if err != nil {
		if !unsatisfiable(err) {
			return nil, err
		}
		// S3 refuses the range bytes=0-N only for an empty object: confirm.
		size, herr := s.size(ctx, key)
		switch {
		case herr != nil:
			return nil, herr
		case size == 0:
			return []byte{}, nil
		}
		return nil, &retryBody{fmt.Errorf("range refused for an object of %d bytes: %w", size, err)}
	}
	defer out.Body.Close()
	n := aws.ToInt64(out.ContentLength) // -1 or 0 when unknown (chunked)
	total := n
	if cr := aws.ToString(out.ContentRange); cr != "" {
		var ok bool
		if total, ok = rangeTotal(cr); !ok {
			return nil, fmt.Errorf("s3: bad Content-Range %q", cr)
		}
	}
	if n > max || total > max {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", bistro.ErrTooLarge, max64(n, total), max)
	}
	limit := max
	if limit < math.MaxInt64 {
		limit++
	}
	data, err := readCapped(out.Body, limit, n)
	read := int64(len(data))
	switch {
	case err != nil:
		return nil, &retryBody{fmt.Errorf("body after %d bytes: %w", read, err)}
	case read > max:
		return nil, fmt.Errorf("%w: the server sent more than %d bytes (it announced %d)", bistro.ErrTooLarge, max, n)
	case n > 0 && read != n:
		return nil, &retryBody{fmt.Errorf("body of %d bytes, announced %d: %w", read, n, io.ErrUnexpectedEOF)}
	case total > 0 && read != total:
		// A server that returned part of an object it says fits the cap.
		return nil, &retryBody{fmt.Errorf("body of %d bytes of an object of %d: %w", read, total, io.ErrUnexpectedEOF)}
	}
	return data, nil
}

// readCapped reads r to its end, but at most limit bytes, into a slice sized
// by hint (the announced length, when positive) so that a body of the
// announced length needs one allocation.
func readCapped(r io.Reader, limit, hint int64) ([]byte, error) {
	b := make([]byte, 0, max64(min(hint, limit), 0)+1)
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(max64(int64(cap(b)), 64<<10), limit-int64(len(b)))))
		}
		end := cap(b)
		if int64(end) > limit {
			end = int(limit)
		}
		m, err := r.Read(b[len(b):end])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// size returns the object's size by HEAD; -1 when the server does not say.
func (s *Store) size(ctx context.Context, key string) (int64, error) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	if head.ContentLength == nil {
		return -1, nil
	}
	return *head.ContentLength, nil
}

// unsatisfiable reports a 416 Range Not Satisfiable.
func unsatisfiable(err error) bool {
	var ae smithy.APIError
	var resp *awshttp.ResponseError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" ||
		errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable
}

// rangeTotal parses the complete length of "bytes 0-9/10".
func rangeTotal(cr string) (int64, bool) {
	i := strings.LastIndexByte(cr, '/')
	if i < 0 || !strings.HasPrefix(cr, "bytes ") {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil && n >= 0
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Stat returns the object's size and the server's Modified time.
func (s *Store) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	if err := check(ctx, key); err != nil {
		return bistro.ObjectInfo{}, fmt.Errorf("s3: stat: %w", err)
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return bistro.ObjectInfo{}, s.fail(ctx, "stat", key, err)
	}
	return bistro.ObjectInfo{Key: key, Size: aws.ToInt64(head.ContentLength), Modified: aws.ToTime(head.LastModified)}, nil
}

// List returns the objects whose keys start with prefix, sorted by key. It
// follows continuation tokens, stops at a repeated one, and fails past
// Options.MaxListed objects. Keys the server lists that are not valid keys
// (folder markers ending in '/', names from outside bistro) or that lack
// the prefix are left out.
func (s *Store) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: list: %w", err)
	}
	if err := bistro.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("s3: list: %w", err)
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in, func(o *s3.ListObjectsV2PaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	out := make([]bistro.ObjectInfo, 0)
	seen := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail(ctx, "list", prefix, err)
		}
		seen += len(page.Contents)
		if seen > s.opts.MaxListed {
			return nil, fmt.Errorf("s3: list %q in %s: more than %d objects", prefix, s.bucket, s.opts.MaxListed)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasPrefix(k, prefix) || bistro.ValidKey(k) != nil {
				continue
			}
			out = append(out, bistro.ObjectInfo{Key: k, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b bistro.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	out = slices.CompactFunc(out, func(a, b bistro.ObjectInfo) bool { return a.Key == b.Key })
	return out, nil
}

// Delete removes the object; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if err := s.fail(ctx, "delete", key, err); !errors.Is(err, bistro.ErrNotFound) {
			return err
		}
	}
	return nil
}

// fail wraps an operation's error: bistro.ErrNotFound for a missing object,
// ErrNoBucket for a missing bucket, ctx's error when ctx ended (the SDK and
// net/http do not always wrap it), and the operation, bucket and key for
// context. It logs at debug level.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	s.log.Debug("s3: failed", "op", op, "bucket", s.bucket, "key", key, "err", err)
	var (
		nsk  *types.NoSuchKey
		nf   *types.NotFound
		nsb  *types.NoSuchBucket
		ae   smithy.APIError
		resp *awshttp.ResponseError
	)
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case errors.As(err, &nsb) || code == "NoSuchBucket":
		err = fmt.Errorf("%w %q: %w", ErrNoBucket, s.bucket, err)
	case errors.As(err, &nsk) || errors.As(err, &nf) || code == "NoSuchKey" || code == "NotFound" ||
		(errors.As(err, &resp) && resp.HTTPStatusCode() == 404 && code == ""):
		err = fmt.Errorf("%w: %w", bistro.ErrNotFound, err)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if key == "" {
		return fmt.Errorf("s3: %s %s: %w", op, s.bucket, err)
	}
	return fmt.Errorf("s3: %s %s/%s: %w", op, s.bucket, key, err)
}
