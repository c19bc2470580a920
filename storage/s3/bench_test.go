package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/bistro-go/bistro/storage/s3"
)

// benchRaw is a plain SDK client of the server, as a user would write it:
// the SDK's defaults (checksums included), with a connection pool as large
// as the Store's so that the concurrent baseline is not starved.
func benchRaw() *awss3.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 64
	})
	return awss3.New(awss3.Options{
		Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true, HTTPClient: hc,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}, nil
		}),
	})
}

func rawPut(b *testing.B, c *awss3.Client, bucket, key string, data []byte) {
	_, err := c.PutObject(b.Context(), &awss3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		b.Fatal(err)
	}
}

func rawGet(ctx context.Context, c *awss3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// BenchmarkRoundTrip64MiB puts and gets one 64 MiB object (a large
// checkpoint) through the Store, beside the raw SDK's PutObject and
// GetObject (+ io.ReadAll) on the same server in the same run. Report
// Put/RawPut and Get/RawGet as ratios.
func BenchmarkRoundTrip64MiB(b *testing.B) {
	const size = 64 << 20
	st := newStore(b)
	raw := benchRaw()
	data := bytes.Repeat([]byte{0xb1, 0x57, 0x20, 0x0f}, size/4)
	b.Run("Put", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := st.Put(b.Context(), "ck/ours", bytes.NewReader(data), size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RawPut", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			rawPut(b, raw, st.Bucket(), "ck/raw", data)
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			got, err := st.Get(b.Context(), "ck/ours", size)
			if err != nil || len(got) != size {
				b.Fatal(err, len(got))
			}
		}
	})
	b.Run("RawGet", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			got, err := rawGet(b.Context(), raw, st.Bucket(), "ck/raw")
			if err != nil || len(got) != size {
				b.Fatal(err, len(got))
			}
		}
	})
}

// BenchmarkFetch256Miners fetches 256 slices of 64 KiB — one window of a
// 256-miner subnet for a validator — with at most 16 fetches in flight,
// through the Store (one ranged GET under the byte cap), the Store with
// HeadFirst (HEAD, then the ranged GET) and the raw SDK (one GET and
// io.ReadAll each), in the same run.
func BenchmarkFetch256Miners(b *testing.B) {
	const miners, size, limit = 256, 64 << 10, 16
	st := newStore(b)
	raw := benchRaw()
	keys := make([]string, miners)
	{
		g, ctx := errgroup.WithContext(b.Context())
		g.SetLimit(limit)
		for i := range keys {
			keys[i] = fmt.Sprintf("bistro/v1/1/7/miner%03d.safetensors", i)
			data := bytes.Repeat([]byte{byte(i)}, size)
			g.Go(func() error { return st.Put(ctx, keys[i], bytes.NewReader(data), size) })
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	fetchAll := func(b *testing.B, get func(ctx context.Context, key string) ([]byte, error)) {
		b.SetBytes(miners * size)
		for b.Loop() {
			g, ctx := errgroup.WithContext(b.Context())
			g.SetLimit(limit)
			for _, k := range keys {
				g.Go(func() error {
					got, err := get(ctx, k)
					if err == nil && len(got) != size {
						err = fmt.Errorf("%s: %d bytes", k, len(got))
					}
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/window")
	}
	b.Run("Get", func(b *testing.B) {
		fetchAll(b, func(ctx context.Context, key string) ([]byte, error) { return st.Get(ctx, key, size) })
	})
	b.Run("GetHeadFirst", func(b *testing.B) {
		o := srv.Options(st.Bucket())
		o.HeadFirst = true
		hf, err := s3.New(b.Context(), o)
		if err != nil {
			b.Fatal(err)
		}
		fetchAll(b, func(ctx context.Context, key string) ([]byte, error) { return hf.Get(ctx, key, size) })
	})
	b.Run("RawGet", func(b *testing.B) {
		fetchAll(b, func(ctx context.Context, key string) ([]byte, error) { return rawGet(ctx, raw, st.Bucket(), key) })
	})
}
