package bistro

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// r2Commitment is a realistic Cloudflare R2 commitment with a read key: a
// 32-hex account endpoint, a 63-character bucket, a 32-character key id and
// a 64-character secret.
func r2Commitment() Commitment {
	return Commitment{
		Params:     Hash{0xab, 0xcd},
		Endpoint:   "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
		Bucket:     strings.Repeat("b", 62) + "1",
		Region:     "auto",
		ReadKeyID:  "0123456789abcdef0123456789abcdef",
		ReadSecret: strings.Repeat("0123456789abcdef", 4),
	}
}

func TestCommitmentRoundTrip(t *testing.T) {
	for _, c := range []Commitment{
		r2Commitment(),
		{Params: Hash{1}, Endpoint: "https://s3.us-east-1.amazonaws.com", Bucket: "my-bucket", Region: "us-east-1"},
		{Params: Hash{2}, Endpoint: "http://127.0.0.1:9000", Bucket: "local.net-1", Region: strings.Repeat("r", 29),
			ReadKeyID: "K", ReadSecret: "s/+=~"},
	} {
		fields, err := c.Fields()
		require.NoError(t, err)
		for _, f := range fields {
			assert.LessOrEqual(t, len(f), MaxCommitmentField)
		}
		got, err := ParseCommitment(fields)
		require.NoError(t, err)
		assert.Equal(t, c, got)
		info, err := EncodeCommitmentInfo(fields)
		require.NoError(t, err)
		back, err := DecodeCommitmentInfo(info)
		require.NoError(t, err)
		assert.Equal(t, fields, back)
	}
	fields, err := func() ([][]byte, error) { c := r2Commitment(); return c.Fields() }()
	require.NoError(t, err)
	assert.Len(t, fields, 3)
	assert.Len(t, fields[0], 2+32+1+4+1+63, "region and bucket")
	assert.Len(t, fields[2], 1+32+64, "read key")
}

func TestCommitmentRejects(t *testing.T) {
	mut := []struct {
		name string
		f    func(c *Commitment)
	}{
		{"no params", func(c *Commitment) { c.Params = Hash{} }},
		{"short bucket", func(c *Commitment) { c.Bucket = "ab" }},
		{"long bucket", func(c *Commitment) { c.Bucket = strings.Repeat("b", 64) }},
		{"upper bucket", func(c *Commitment) { c.Bucket = "Bucket" }},
		{"dash bucket", func(c *Commitment) { c.Bucket = "-bucket" }},
		{"no region", func(c *Commitment) { c.Region = "" }},
		{"long region", func(c *Commitment) { c.Region = strings.Repeat("r", 30) }},
		{"region chars", func(c *Commitment) { c.Region = "us east" }},
		{"no endpoint", func(c *Commitment) { c.Endpoint = "" }},
		{"long endpoint", func(c *Commitment) { c.Endpoint = "https://" + strings.Repeat("e", 121) }},
		{"endpoint space", func(c *Commitment) { c.Endpoint = "https://a b.com" }},
		{"key without secret", func(c *Commitment) { c.ReadSecret = "" }},
		{"secret without key", func(c *Commitment) { c.ReadKeyID = "" }},
		{"key chars", func(c *Commitment) { c.ReadKeyID = "key/id" }},
		{"secret space", func(c *Commitment) { c.ReadSecret = "a b" }},
		{"key too long", func(c *Commitment) { c.ReadSecret = strings.Repeat("s", 96) }},
	}
	for _, m := range mut {
		t.Run(m.name, func(t *testing.T) {
			c := r2Commitment()
			m.f(&c)
			_, err := c.Fields()
			assert.ErrorIs(t, err, ErrBadCommitment)
			if c.ReadSecret != "" && len(c.ReadSecret) > 2 {
				assert.NotContains(t, err.Error(), c.ReadSecret, "the secret is never echoed")
			}
		})
	}

	good := r2Commitment()
	fields, err := good.Fields()
	require.NoError(t, err)
	raw := [][][]byte{
		nil,
		{fields[0]},
		{fields[0], fields[1], fields[2], fields[2]},
		{append([]byte{'x'}, fields[0][1:]...), fields[1]},
		{fields[0][:33], fields[1]},
		{fields[0][:len(fields[0])-1], fields[1]},
		{append(append([]byte{}, fields[0]...), 0), fields[1]},
		{fields[0], make([]byte, 129)},
		{fields[0], fields[1], {40, 'a'}},
		{fields[0], fields[1], {0, 'a'}},
	}
	for i, r := range raw {
		_, err := ParseCommitment(r)
		assert.ErrorIs(t, err, ErrBadCommitment, "case %d", i)
	}
	for i, b := range [][]byte{nil, {1}, {3 << 2}, {4 << 2}, {1 << 2, 0}, {1 << 2, 130}, {1 << 2, 5, 'a'}, {1 << 2, 2, 'a', 'b'}} {
		_, err := DecodeCommitmentInfo(b)
		assert.ErrorIs(t, err, ErrBadCommitment, "info case %d", i)
	}
}

func TestCheckEndpoint(t *testing.T) {
	ok := []string{
		"https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
		"https://s3.us-east-1.amazonaws.com",
		"https://s3.example.com:8443/",
		"https://8.8.8.8",
		"https://[2606:4700::1111]",
	}
	for _, u := range ok {
		_, err := CheckEndpoint(u, false)
		assert.NoError(t, err, u)
	}
	refused := []string{
		"http://s3.amazonaws.com",
		"ftp://s3.amazonaws.com",
		"https://127.0.0.1:9000",
		"https://[::1]",
		"https://10.1.2.3",
		"https://192.168.0.10",
		"https://172.16.5.4",
		"https://169.254.169.254",
		"https://100.64.0.1",
		"https://0.0.0.0",
		"https://[::]",
		"https://[::ffff:10.0.0.1]",
		"https://[fd00::1]",
		"https://[fe80::1]",
		"https://224.0.0.1",
		"https://198.18.0.1",
		"https://203.0.113.9",
		"https://240.1.2.3",
		"https://255.255.255.255",
		"https://[2001:db8::1]",
		"https://[64:ff9b::a00:1]",
		"https://[2002:a00:1::]",
		"https://[fe80::1%25eth0]",
		"https://2130706433",
		"https://0x7f.1",
		"https://bucket.example.123",
		"https://localhost",
		"https://api.localhost",
		"https://minio",
		"https://nas.local",
		"https://metadata.google.internal",
		"https://user:pw@s3.amazonaws.com",
		"https://s3.amazonaws.com/path",
		"https://s3.amazonaws.com/?x=1",
		"https://s3.amazonaws.com/#f",
		"https://",
		"::not a url",
	}
	for _, u := range refused {
		_, err := CheckEndpoint(u, false)
		assert.ErrorIs(t, err, ErrEndpoint, u)
	}
	for _, u := range []string{"http://127.0.0.1:9000", "https://localhost", "http://10.0.0.5"} {
		_, err := CheckEndpoint(u, true)
		assert.NoError(t, err, "local network option: %s", u)
	}
	_, err := CheckEndpoint("ftp://127.0.0.1", true)
	assert.ErrorIs(t, err, ErrEndpoint, "the local option still wants http(s)")

	assert.False(t, PublicAddr(netip.Addr{}))
}

// FuzzParseCommitment feeds arbitrary chain bytes through the decoder: it
// must never panic, and whatever it accepts must re-encode to the same bytes.
func FuzzParseCommitment(f *testing.F) {
	c := r2Commitment()
	fields, _ := c.Fields()
	info, _ := EncodeCommitmentInfo(fields)
	f.Add(info)
	f.Add(info[:len(info)-1])
	f.Add([]byte{0})
	f.Add([]byte{2 << 2, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := DecodeCommitmentInfo(b)
		if err != nil {
			return
		}
		again, err := EncodeCommitmentInfo(fields)
		require.NoError(t, err)
		require.Equal(t, b, again)
		c, err := ParseCommitment(fields)
		if err != nil {
			return
		}
		back, err := c.Fields()
		require.NoError(t, err)
		require.Equal(t, fields, back)
	})
}
