package tokens_test

import (
	"testing"
	"unicode/utf8"

	"github.com/bistro-go/bistro/train/tokens"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBytes(t *testing.T) {
	tok, err := tokens.ByName("bytes")
	require.NoError(t, err)
	assert.Equal(t, "bytes", tok.Name())
	assert.Equal(t, 256, tok.Vocab())
	assert.Equal(t, int32(-1), tok.EOT())
	text := []byte("Hi\x00\xff é")
	ids, err := tok.Encode([]int32{7}, text)
	require.NoError(t, err)
	assert.Equal(t, []int32{7, 'H', 'i', 0, 255, ' ', 0xc3, 0xa9}, ids, "appends, one id per byte, any bytes")
	back, err := tok.Decode(ids[1:])
	require.NoError(t, err)
	assert.Equal(t, text, back)
	_, err = tok.Decode([]int32{256})
	assert.Error(t, err)
	_, err = tok.Decode([]int32{-1})
	assert.Error(t, err)
}

func TestGPT2(t *testing.T) {
	tok, err := tokens.ByName("gpt2")
	require.NoError(t, err)
	assert.Equal(t, "gpt2", tok.Name())
	assert.Equal(t, 50257, tok.Vocab())
	assert.Equal(t, int32(50256), tok.EOT())
	for _, c := range []struct {
		text string
		ids  []int32
	}{
		// tiktoken.get_encoding("gpt2").encode_ordinary(text)
		{"Hello world", []int32{15496, 995}},
		{"", nil},
		{" the", []int32{262}},
		{"Hello, world!", []int32{15496, 11, 995, 0}},
		{"I'm here", []int32{40, 1101, 994}},
		// A literal end-of-text marker is ordinary text, never id 50256.
		{"<|endoftext|>", []int32{27, 91, 437, 1659, 5239, 91, 29}},
	} {
		ids, err := tok.Encode(nil, []byte(c.text))
		require.NoError(t, err, c.text)
		assert.Equal(t, c.ids, ids, "%q", c.text)
		back, err := tok.Decode(ids)
		require.NoError(t, err)
		assert.Equal(t, c.text, string(back))
	}

	// Documents joined with <|endoftext|> between them.
	var ids []int32
	for _, doc := range []string{"Hello world", "Hello world"} {
		ids, err = tok.Encode(ids, []byte(doc))
		require.NoError(t, err)
		ids = append(ids, tok.EOT())
	}
	assert.Equal(t, []int32{15496, 995, 50256, 15496, 995, 50256}, ids)
	back, err := tok.Decode(ids)
	require.NoError(t, err)
	assert.Equal(t, "Hello world<|endoftext|>Hello world<|endoftext|>", string(back))

	// Non-ASCII text round-trips; invalid UTF-8 is refused.
	text := "Ünïcödé — 東京 🙂"
	ids, err = tok.Encode(nil, []byte(text))
	require.NoError(t, err)
	back, err = tok.Decode(ids)
	require.NoError(t, err)
	assert.Equal(t, text, string(back))
	require.True(t, utf8.ValidString(text))
	_, err = tok.Encode(nil, []byte("ok \xff"))
	assert.ErrorIs(t, err, tokens.ErrText)
	for _, bad := range [][]int32{{-1}, {50257}} {
		_, err = tok.Decode(bad)
		assert.Error(t, err)
	}
}

func TestByNameUnknown(t *testing.T) {
	_, err := tokens.ByName("cl100k_base")
	assert.ErrorIs(t, err, tokens.ErrUnknown)
}
