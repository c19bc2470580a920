package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/bistro-go/bistro/storage/internal/objio"
)

// S3's bounds on a multipart upload.
const (
	// MinPartSize is the smallest part S3 accepts (except the last).
	MinPartSize = 5 << 20
	// maxParts is the most parts one upload may have.
	maxParts = 10000
)

// partSize returns the part size for an object of size bytes: PartSize,
// grown to a whole MiB where PartSize would need more than maxParts parts.
func (s *Store) partSize(size int64) int64 {
	ps := s.opts.PartSize
	if need := (size + maxParts - 1) / maxParts; need > ps {
		ps = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

// putMultipart uploads an object larger than PartSize in parts of one size
// (the last one shorter), as Cloudflare R2 requires, at most
// PartConcurrency at a time, each part retried by the retryer. Any failure,
// and the end of ctx, aborts the upload, so no part of it stays stored or
// becomes visible. Options.Timeout bounds each request, not the whole upload,
// whose time grows with its size.
func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	body, done, err := s.stage(ctx, r, size)
	if err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	defer done()
	base, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	ra, _ := body.(io.ReaderAt)

	cctx, cancel := s.opContext(ctx)
	created, err := s.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key),
	})
	cancel()
	if err != nil {
		return s.fail(ctx, "put (create multipart upload)", key, err)
	}
	id := created.UploadId
	defer func() {
		if err != nil {
			s.abort(ctx, key, id)
		}
	}()

	ps := s.partSize(size)
	n := int((size + ps - 1) / ps)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.PartConcurrency)
	for i := range n {
		off := int64(i) * ps
		length := min(ps, size-off)
		var part io.ReadSeeker
		if ra != nil {
			part = io.NewSectionReader(ra, base+off, length)
		} else {
			// A seeker that cannot read at an offset is read in order, one
			// part in memory per upload in flight.
			b, rerr := objio.ReadExact(gctx, io.LimitReader(body, length), length, length)
			if rerr != nil {
				g.Wait()
				return fmt.Errorf("s3: put %q: part %d: %w", key, i+1, rerr)
			}
			part = bytes.NewReader(b)
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			pctx, cancel := s.opContext(gctx)
			defer cancel()
			out, err := s.client.UploadPart(pctx, &s3.UploadPartInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: id,
				PartNumber: aws.Int32(int32(i + 1)), Body: part, ContentLength: aws.Int64(length),
			})
			if err != nil {
				return s.fail(pctx, "put (part "+strconv.Itoa(i+1)+")", key, err)
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	cctx, cancel = s.opContext(ctx)
	defer cancel()
	_, err = s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return s.fail(cctx, "put (complete multipart upload)", key, err)
	}
	return nil
}

// abort abandons an upload, even after ctx ended, so that its parts are
// freed; a failure is logged (the bucket's lifecycle rules are then the
// last resort).
func (s *Store) abort(ctx context.Context, key string, id *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Timeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: id,
	})
	if err != nil {
		s.log.Warn("s3: abort multipart upload failed", "op", "put", "bucket", s.bucket, "key", key, "err", err)
	}
}

// parseBytes parses a byte count: digits, optionally followed by KiB, MiB or
// GiB.
func parseBytes(v string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			v, mult = strings.TrimSuffix(v, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%d out of range", n)
	}
	return n * mult, nil
}
