// Package tokens turns text into the token ids that the trainers of package
// train read, fully offline: Bytes, the identity on bytes (vocabulary 256,
// the mlp/v1 model and the GPTTiny preset), and GPT2, GPT-2's byte-level BPE
// (vocabulary 50257) through github.com/tiktoken-go/tokenizer, whose
// r50k_base tables are compiled into the binary.
//
//	tok, err := tokens.ByName("gpt2")
//	ids, err := tok.Encode(nil, []byte("Hello world"))   // [15496 995]
//	ids = append(ids, tok.EOT())                         // 50256 between documents
//	text, err := tok.Decode(ids[:2])                     // "Hello world"
//
// Tokenizers are used when a dataset is built (`bistro manifest`), never
// when a page is read: shards hold token ids, so miners and validators never
// tokenize and cannot disagree about it.
package tokens

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Tokenizer maps text to token ids and back. Implementations are
// deterministic and safe for concurrent use.
type Tokenizer interface {
	// Name is the tokenizer's id in a dataset manifest ("bytes", "gpt2").
	Name() string
	// Vocab is the number of token ids: every id is in [0, Vocab).
	Vocab() int
	// EOT is the id placed after every document, or −1 when documents are
	// joined with nothing between them.
	EOT() int32
	// Encode appends the ids of text to dst and returns it. Text that the
	// tokenizer cannot represent is an error (ErrText).
	Encode(dst []int32, text []byte) ([]int32, error)
	// Decode returns the bytes that ids stand for; an id out of range is an
	// error.
	Decode(ids []int32) ([]byte, error)
}

// ErrText is wrapped by errors about text a tokenizer refuses.
var ErrText = errors.New("tokens: text the tokenizer cannot encode")

// ErrUnknown is returned by ByName for a name it does not know.
var ErrUnknown = errors.New("tokens: unknown tokenizer")

// Tokenizer names.
const (
	BytesName = "bytes"
	GPT2Name  = "gpt2"
)

// ByName returns the tokenizer called name: "bytes" or "gpt2".
func ByName(name string) (Tokenizer, error) {
	switch name {
	case BytesName:
		return Bytes{}, nil
	case GPT2Name:
		return NewGPT2()
	}
	return nil, fmt.Errorf("%w %q (want %q or %q)", ErrUnknown, name, BytesName, GPT2Name)
}

// Bytes is the identity: each byte of the text is one token, 0 … 255. It has
// no end-of-text token (EOT is −1): documents follow each other directly.
type Bytes struct{}

var _ Tokenizer = Bytes{}

// Name returns "bytes".
func (Bytes) Name() string { return BytesName }

// Vocab returns 256.
func (Bytes) Vocab() int { return 256 }

// EOT returns −1: none.
func (Bytes) EOT() int32 { return -1 }

// Encode appends the bytes of text.
func (Bytes) Encode(dst []int32, text []byte) ([]int32, error) {
	dst = append(dst, make([]int32, len(text))...)
	out := dst[len(dst)-len(text):]
	for i, c := range text {
		out[i] = int32(c)
	}
	return dst, nil
}

// Decode returns the bytes ids stand for.
func (Bytes) Decode(ids []int32) ([]byte, error) {
	out := make([]byte, len(ids))
	for i, id := range ids {
		if id < 0 || id > 255 {
			return nil, fmt.Errorf("tokens: id %d at %d is not a byte", id, i)
		}
		out[i] = byte(id)
	}
	return out, nil
}

// GPT2Vocab is the size of GPT-2's vocabulary; GPT2EOT, <|endoftext|>, is
// its last id.
const (
	GPT2Vocab = 50257
	GPT2EOT   = 50256
)

// GPT2 is GPT-2's byte-level BPE (tiktoken's r50k_base, which is the
// "gpt2" encoding): the same ids as Hugging Face's GPT2Tokenizer and
// tiktoken.get_encoding("gpt2").encode_ordinary. Text must be valid UTF-8
// (ErrText otherwise), as Python's str always is. The text is encoded as
// ordinary text: a literal "<|endoftext|>" in it becomes the ids of those
// characters, never GPT2EOT, so a document cannot forge a boundary.
type GPT2 struct {
	codec tokenizer.Codec
}

var _ Tokenizer = (*GPT2)(nil)

// NewGPT2 returns GPT-2's tokenizer. Its tables are in the binary; the first
// call builds them (about a tenth of a second).
func NewGPT2() (*GPT2, error) {
	c, err := tokenizer.Get(tokenizer.R50kBase)
	if err != nil {
		return nil, fmt.Errorf("tokens: gpt2: %w", err)
	}
	c.SetErrorMode(tokenizer.ErrorModeStrict)
	return &GPT2{codec: c}, nil
}

// Name returns "gpt2".
func (*GPT2) Name() string { return GPT2Name }

// Vocab returns 50257.
func (*GPT2) Vocab() int { return GPT2Vocab }

// EOT returns 50256, <|endoftext|>.
func (*GPT2) EOT() int32 { return GPT2EOT }

// Encode appends the BPE ids of text.
func (g *GPT2) Encode(dst []int32, text []byte) ([]int32, error) {
	if !utf8.Valid(text) {
		return dst, fmt.Errorf("%w: not valid UTF-8", ErrText)
	}
	ids, _, err := g.codec.Encode(string(text))
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrText, err)
	}
	for _, id := range ids {
		dst = append(dst, int32(id))
	}
	return dst, nil
}

// EOTText is what Decode writes for GPT2EOT.
const EOTText = "<|endoftext|>"

// Decode returns the UTF-8 bytes that ids stand for, EOTText for GPT2EOT.
// A run of ids between two EOTs that ends inside a multi-byte character is
// an error, as is an id out of range.
func (g *GPT2) Decode(ids []int32) ([]byte, error) {
	var out []byte
	run := make([]uint, 0, len(ids))
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		s, err := g.codec.Decode(run)
		if err != nil {
			return fmt.Errorf("tokens: decode: %w", err)
		}
		out = append(out, s...)
		run = run[:0]
		return nil
	}
	for i, id := range ids {
		switch {
		case id < 0 || id >= GPT2Vocab:
			return nil, fmt.Errorf("tokens: id %d at %d not in [0, %d)", id, i, GPT2Vocab)
		case id == GPT2EOT:
			if err := flush(); err != nil {
				return nil, err
			}
			out = append(out, EOTText...)
		default:
			run = append(run, uint(id))
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
