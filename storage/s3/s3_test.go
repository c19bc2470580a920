package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/storage/storagetest"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) bistro.Storage { return newStore(t) })
}

// TestContractHeadFirst runs the suite with HeadFirst: sizes asked by HEAD
// before every read.
func TestContractHeadFirst(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) bistro.Storage {
		o := srv.Options(bucketName(t))
		o.HeadFirst = true
		st, err := s3.New(t.Context(), o)
		require.NoError(t, err)
		require.NoError(t, st.CreateBucket(t.Context()))
		return st
	})
}

// TestContractOpen runs the suite on stores opened by URL, with credentials
// from the environment (the SDK's default chain).
func TestContractOpen(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	storagetest.Run(t, func(t *testing.T) bistro.Storage {
		name := bucketName(t)
		require.NoError(t, newStoreNamed(t, name).CreateBucket(t.Context()))
		st, err := bistro.Open(t.Context(), "s3://"+name+"?endpoint="+url.QueryEscape(srv.Endpoint)+
			"&region="+srv.Region+"&path_style=1&timeout=30s&attempts=3")
		require.NoError(t, err)
		return st
	})
}

func newStoreNamed(t testing.TB, name string) *s3.Store {
	t.Helper()
	st, err := s3.New(t.Context(), srv.Options(name))
	require.NoError(t, err)
	return st
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{
		"s3://", "s3://b/path", "s3://user:secret@bucket", "s3://b?nope=1", "s3://b?path_style=maybe",
		"s3://b?timeout=soon", "s3://b?endpoint=ftp://x", "s3://b?region=a&region=b", "s3:opaque",
		"s3://b?anonymous=1&dotenv=.env", "s3://b?part_size=1MiB", "s3://b?part_size=big", "s3://b?part_concurrency=-1",
	} {
		_, err := bistro.Open(t.Context(), u)
		if assert.Error(t, err, u) {
			assert.NotContains(t, err.Error(), "secret", u)
		}
	}
	assert.Contains(t, bistro.Drivers(), s3.Scheme)
}

func TestOptionsValidate(t *testing.T) {
	for _, mut := range []func(o *s3.Options){
		func(o *s3.Options) { o.Bucket = "" },
		func(o *s3.Options) { o.AccessKeyID = "id" },
		func(o *s3.Options) { o.SecretAccessKey = "s" },
		func(o *s3.Options) { o.SessionToken = "t" },
		func(o *s3.Options) { o.Anonymous, o.AccessKeyID, o.SecretAccessKey = true, "id", "s" },
		func(o *s3.Options) { o.Timeout = -1 },
		func(o *s3.Options) { o.MaxAttempts = -1 },
		func(o *s3.Options) { o.BaseDelay, o.MaxBackoff = time.Second, time.Millisecond },
		func(o *s3.Options) { o.Endpoint = "127.0.0.1:9000" },
		func(o *s3.Options) { o.Endpoint = "https://u:p@host" },
		func(o *s3.Options) { o.PartSize = s3.MinPartSize - 1 },
		func(o *s3.Options) { o.PartConcurrency = -1 },
	} {
		o := s3.DefaultOptions()
		o.Bucket = "bucket"
		mut(&o)
		before := o
		assert.Error(t, o.Validate(), "%v", o)
		assert.Equal(t, before, o, "Validate changed the options")
		_, err := s3.New(t.Context(), o)
		assert.Error(t, err)
	}
	o := s3.DefaultOptions()
	o.Bucket = "bucket"
	assert.NoError(t, o.Validate())
	zero := s3.Options{Bucket: "bucket"}
	assert.NoError(t, zero.Validate(), "zero values mean the defaults")
}

// TestDotEnv reads the key from a .env file, as the original Python does,
// only when asked, and the process environment wins over the file.
func TestDotEnv(t *testing.T) {
	ctx := t.Context()
	name := bucketName(t)
	require.NoError(t, newStoreNamed(t, name).CreateBucket(ctx))
	isolate(t)
	env := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(env, []byte(fmt.Sprintf(
		"# the miner's keys\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=\"%s\"\n", srv.AccessKey, srv.SecretKey)), 0o600))

	o := srv.Options(name)
	o.AccessKeyID, o.SecretAccessKey = "", ""
	o.MaxAttempts = 1

	// Without DotEnv (and no key in the environment) the request is refused.
	st, err := s3.New(ctx, o)
	require.NoError(t, err)
	assert.Error(t, st.Put(ctx, "k", strings.NewReader("v"), 1))

	o.DotEnv = env
	st, err = s3.New(ctx, o)
	require.NoError(t, err)
	require.NoError(t, st.Put(ctx, "k", strings.NewReader("v"), 1))
	_, ok := os.LookupEnv("AWS_ACCESS_KEY_ID")
	assert.False(t, ok, "the process environment is not modified")

	// The environment wins: a wrong key there is used, and refused.
	t.Setenv("AWS_ACCESS_KEY_ID", "wrongkey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrongsecret")
	st, err = s3.New(ctx, o)
	require.NoError(t, err)
	assert.Error(t, st.Put(ctx, "k", strings.NewReader("v"), 1))

	o.DotEnv = filepath.Join(t.TempDir(), "missing.env")
	_, err = s3.New(ctx, o)
	assert.Error(t, err)
}

// isolate hides the developer's AWS configuration from the SDK's default
// chain for the test.
func isolate(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// TestSecretsNeverShown provokes failures with a key whose secret is known
// and checks that neither errors, nor the debug log, nor the Options' string
// forms contain it.
func TestSecretsNeverShown(t *testing.T) {
	ctx := t.Context()
	name := bucketName(t)
	require.NoError(t, newStoreNamed(t, name).CreateBucket(ctx))
	var logs bytes.Buffer
	const secret = "TOPSECRETvalue0123456789"
	o := srv.Options(name)
	o.SecretAccessKey = secret // wrong for this server: every request is refused
	o.MaxAttempts = 2
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := s3.New(ctx, o)
	require.NoError(t, err)
	var errs []error
	errs = append(errs, st.Put(ctx, "k", strings.NewReader("v"), 1))
	_, err = st.Get(ctx, "k", 10)
	errs = append(errs, err)
	_, err = st.Stat(ctx, "k")
	errs = append(errs, err)
	_, err = st.List(ctx, "")
	errs = append(errs, err)
	errs = append(errs, st.Delete(ctx, "k"))

	// The right secret on an endpoint that refuses connections.
	o.SecretAccessKey = srv.SecretKey
	o.Endpoint = "http://127.0.0.1:1"
	o.SessionToken = secret
	st, err = s3.New(ctx, o)
	require.NoError(t, err)
	_, err = st.Get(ctx, "k", 10)
	errs = append(errs, err)

	for _, err := range errs {
		require.Error(t, err)
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret)
	}
	assert.NotEmpty(t, logs.String(), "failures are logged at debug level")
	assert.NotContains(t, logs.String(), secret)
	assert.NotContains(t, logs.String(), srv.SecretKey)
	for _, s := range []string{o.String(), fmt.Sprintf("%v %+v %#v", o, o, o), fmt.Sprint(&o)} {
		assert.NotContains(t, s, secret)
		assert.NotContains(t, s, srv.SecretKey)
	}
	logs.Reset()
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("options", "opts", o)
	assert.NotContains(t, logs.String(), srv.SecretKey)
	assert.Contains(t, logs.String(), srv.AccessKey)
}

// TestAnonymousPublicBucket reads a public bucket with unsigned requests
// and cannot write to it.
func TestAnonymousPublicBucket(t *testing.T) {
	ctx := t.Context()
	owner := newStore(t)
	require.NoError(t, owner.Put(ctx, "pub/obj", strings.NewReader("public"), 6))
	makePublic(t, owner.Bucket())

	o := srv.Options(owner.Bucket())
	o.AccessKeyID, o.SecretAccessKey, o.Anonymous = "", "", true
	o.MaxAttempts = 1
	anon, err := s3.New(ctx, o)
	require.NoError(t, err)
	got, err := anon.Get(ctx, "pub/obj", 100)
	require.NoError(t, err)
	assert.Equal(t, []byte("public"), got)
	list, err := anon.List(ctx, "pub/")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Error(t, anon.Put(ctx, "pub/obj", strings.NewReader("vandal"), 6))
	got, err = owner.Get(ctx, "pub/obj", 100)
	require.NoError(t, err)
	assert.Equal(t, []byte("public"), got)

	// An anonymous reader of a private bucket is refused, and the error is
	// not "not found".
	private := newStore(t)
	require.NoError(t, private.Put(ctx, "k", strings.NewReader("v"), 1))
	o.Bucket = private.Bucket()
	anon, err = s3.New(ctx, o)
	require.NoError(t, err)
	_, err = anon.Get(ctx, "k", 10)
	require.Error(t, err)
}

// makePublic lets anyone read and list bucket.
func makePublic(t *testing.T, bucket string) {
	t.Helper()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",`+
		`"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, bucket)
	_, err := rawClient(t).PutBucketPolicy(t.Context(), &awss3.PutBucketPolicyInput{
		Bucket: aws.String(bucket), Policy: aws.String(policy),
	})
	require.NoError(t, err)
}

// rawClient is a plain SDK client of the server with the root key.
func rawClient(t testing.TB) *awss3.Client {
	return awss3.New(awss3.Options{
		Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}, nil
		}),
	})
}

// TestListPagination lists more objects than one page holds (1000), in key
// order, through continuation tokens.
func TestListPagination(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	const n = 1005
	keys := make(chan string)
	errs := make(chan error, n)
	for range 16 {
		go func() {
			for k := range keys {
				errs <- st.Put(ctx, k, strings.NewReader("x"), 1)
			}
		}()
	}
	for i := range n {
		keys <- fmt.Sprintf("page/%05d", n-1-i)
	}
	close(keys)
	for range n {
		require.NoError(t, <-errs)
	}
	list, err := st.List(ctx, "page/")
	require.NoError(t, err)
	require.Len(t, list, n)
	for i, o := range list {
		require.Equal(t, fmt.Sprintf("page/%05d", i), o.Key)
	}
	list, err = st.List(ctx, "page/0099")
	require.NoError(t, err)
	assert.Len(t, list, 10)
}

// TestMissingBucket is a configuration error, not a missing object.
func TestMissingBucket(t *testing.T) {
	st := newStoreNamed(t, "never-created-"+strings.ToLower(fmt.Sprint(time.Now().UnixNano())))
	_, err := st.Get(t.Context(), "k", 10)
	require.ErrorIs(t, err, s3.ErrNoBucket)
	assert.NotErrorIs(t, err, bistro.ErrNotFound)
	err = st.Put(t.Context(), "k", strings.NewReader("v"), 1)
	require.ErrorIs(t, err, s3.ErrNoBucket)
	assert.NotErrorIs(t, err, bistro.ErrNotFound)
	_, err = st.List(t.Context(), "")
	require.ErrorIs(t, err, s3.ErrNoBucket)
}

// TestModifiedIsTheServers shows what the Modified time is worth: the
// server's word, at its resolution. Nothing in the protocol trusts it.
func TestModifiedIsTheServers(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	before := time.Now().Add(-2 * time.Second)
	require.NoError(t, st.Put(ctx, "k", strings.NewReader("v"), 1))
	info, err := st.Stat(ctx, "k")
	require.NoError(t, err)
	assert.WithinRange(t, info.Modified, before, time.Now().Add(2*time.Second))
}

// TestPutStagesLargeReaders uploads a reader that cannot seek and is larger
// than BufferLimit: it goes through a temporary file, and a short one still
// stores nothing.
func TestPutStagesLargeReaders(t *testing.T) {
	ctx := t.Context()
	name := bucketName(t)
	o := srv.Options(name)
	o.BufferLimit = 1 << 10
	st, err := s3.New(ctx, o)
	require.NoError(t, err)
	require.NoError(t, st.CreateBucket(ctx))
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	require.NoError(t, st.Put(ctx, "big", struct{ io.Reader }{bytes.NewReader(data)}, int64(len(data))))
	got, err := st.Get(ctx, "big", int64(len(data)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	assert.Error(t, st.Put(ctx, "short", struct{ io.Reader }{bytes.NewReader(data[:1000])}, int64(len(data))))
	_, err = st.Stat(ctx, "short")
	assert.ErrorIs(t, err, bistro.ErrNotFound)
	// A seeker positioned past its start is measured from where it is.
	r := bytes.NewReader(data)
	_, err = r.Seek(16, 0)
	require.NoError(t, err)
	require.NoError(t, st.Put(ctx, "tail", r, int64(len(data)-16)))
	got, err = st.Get(ctx, "tail", int64(len(data)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data[16:], got))
}
