package localnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
)

// S3Options put the network's buckets on a real S3 server (versitygw, MinIO,
// or any S3 service): each participant gets its own bucket, created at the
// start, announces it on chain with the key as its read key, and reads the
// others' through storage/s3's Buckets — the production path, with the
// local-network endpoint option so that http and loopback are allowed. The
// loops are unchanged; an equivocator's second version stays in memory.
type S3Options struct {
	// Endpoint is the server's URL, e.g. "http://127.0.0.1:7070".
	Endpoint string
	// Region defaults to "us-east-1".
	Region string
	// AccessKey and SecretKey are a key that may create buckets. The key is
	// also every participant's committed read key, so AccessKey must be 1 …
	// 64 of [A-Za-z0-9] (the commitment format's rule).
	AccessKey, SecretKey string
	// BucketPrefix starts every bucket's name ("<prefix>-<uid>"); "" makes
	// a random one, so that runs never share buckets. A bucket that exists
	// already must be empty.
	BucketPrefix string
	// Tune, when set, adjusts each store's s3.Options (timeouts, retries).
	Tune func(o *s3.Options)
}

func (o *S3Options) validate() error {
	switch {
	case o.Endpoint == "":
		return errors.New("localnet: S3.Endpoint is empty")
	case o.AccessKey == "" || o.SecretKey == "":
		return errors.New("localnet: S3 needs AccessKey and SecretKey")
	}
	c := bistro.Commitment{Params: bistro.Hash{1}, Endpoint: o.Endpoint, Bucket: "bucket", Region: o.region(),
		ReadKeyID: o.AccessKey, ReadSecret: o.SecretKey}
	if _, err := c.Fields(); err != nil {
		return fmt.Errorf("localnet: S3 key or endpoint cannot be committed: %w", err)
	}
	_, err := bistro.CheckEndpoint(o.Endpoint, true)
	return err
}

func (o *S3Options) region() string {
	if o.Region == "" {
		return "us-east-1"
	}
	return o.Region
}

func (o *S3Options) prefix() string {
	if o.BucketPrefix != "" {
		return o.BucketPrefix
	}
	b := make([]byte, 4)
	rand.Read(b)
	return "bistro-localnet-" + hex.EncodeToString(b)
}

// storeOptions are the s3.Options of every store of the run: quick retries,
// since the network waits, in lockstep, for its slowest participant.
func (o *S3Options) storeOptions(bucket string) s3.Options {
	so := s3.DefaultOptions()
	so.Bucket, so.Endpoint, so.Region, so.PathStyle = bucket, o.Endpoint, o.region(), true
	so.AccessKeyID, so.SecretAccessKey = o.AccessKey, o.SecretKey
	so.Timeout, so.HeaderTimeout = time.Minute, 20*time.Second
	so.BaseDelay, so.MaxBackoff = 10*time.Millisecond, 500*time.Millisecond
	if o.Tune != nil {
		o.Tune(&so)
	}
	return so
}

// newBucket creates (or finds empty) the participant's bucket.
func (o *S3Options) newBucket(ctx context.Context, bucket string) (*s3.Store, error) {
	st, err := s3.New(ctx, o.storeOptions(bucket))
	if err != nil {
		return nil, err
	}
	if err := st.CreateBucket(ctx); err != nil {
		return nil, err
	}
	list, err := st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	if len(list) > 0 {
		return nil, fmt.Errorf("localnet: S3 bucket %q is not empty (%d objects): use another BucketPrefix", bucket, len(list))
	}
	return st, nil
}

// commitment announces bucket on the server, with the key as read key.
func (o *S3Options) commitment(bucket string) bistro.Commitment {
	return bistro.Commitment{Endpoint: o.Endpoint, Bucket: bucket, Region: o.region(),
		ReadKeyID: o.AccessKey, ReadSecret: o.SecretKey}
}

// readers opens the others' buckets the production way.
func (o *S3Options) readers() *s3.Buckets {
	return &s3.Buckets{Options: o.storeOptions(""), AllowPrivate: true}
}
