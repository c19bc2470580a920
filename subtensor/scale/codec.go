package scale

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
)

// ErrDecode is wrapped by every decoding error: truncated input, trailing
// bytes, an unknown variant, a malformed compact, a bad type id.
var ErrDecode = errors.New("scale: decode")

// ErrEncode is wrapped by every encoding error: a value that does not fit
// its type, a missing field, an unknown variant.
var ErrEncode = errors.New("scale: encode")

func decodeErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, a...))
}

func encodeErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrEncode, fmt.Sprintf(format, a...))
}

// Reader reads SCALE primitives from a byte slice. Every method fails with
// ErrDecode, never panics, on truncated or malformed input.
type Reader struct {
	b   []byte
	off int
}

// NewReader returns a Reader over b. It does not copy b; values it returns
// as []byte are copies.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Offset returns the number of bytes read so far.
func (r *Reader) Offset() int { return r.off }

// Done fails unless every byte has been read.
func (r *Reader) Done() error {
	if n := r.Len(); n != 0 {
		return decodeErr("%d trailing bytes at offset %d", n, r.off)
	}
	return nil
}

func (r *Reader) take(n int) ([]byte, error) {
	if n < 0 || n > r.Len() {
		return nil, decodeErr("need %d bytes at offset %d, have %d", n, r.off, r.Len())
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, nil
}

// Bytes reads n raw bytes and returns a copy.
func (r *Reader) Bytes(n int) ([]byte, error) {
	b, err := r.take(n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// U8 reads one byte.
func (r *Reader) U8() (uint8, error) {
	b, err := r.take(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// U16 reads a little-endian uint16.
func (r *Reader) U16() (uint16, error) {
	b, err := r.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

// U32 reads a little-endian uint32.
func (r *Reader) U32() (uint32, error) {
	b, err := r.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// U64 reads a little-endian uint64.
func (r *Reader) U64() (uint64, error) {
	b, err := r.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// Bool reads a bool: exactly 0 or 1.
func (r *Reader) Bool() (bool, error) {
	v, err := r.U8()
	if err != nil {
		return false, err
	}
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, decodeErr("bool byte %#x at offset %d", v, r.off-1)
}

// Compact reads a compact integer that fits 64 bits.
func (r *Reader) Compact() (uint64, error) {
	start := r.off
	b0, err := r.U8()
	if err != nil {
		return 0, err
	}
	switch b0 & 3 {
	case 0:
		return uint64(b0 >> 2), nil
	case 1:
		b1, err := r.U8()
		if err != nil {
			return 0, err
		}
		v := uint64(b0)>>2 | uint64(b1)<<6
		if v < 1<<6 {
			return 0, decodeErr("non-canonical compact at offset %d", start)
		}
		return v, nil
	case 2:
		b, err := r.take(3)
		if err != nil {
			return 0, err
		}
		v := (uint64(b0) | uint64(b[0])<<8 | uint64(b[1])<<16 | uint64(b[2])<<24) >> 2
		if v < 1<<14 {
			return 0, decodeErr("non-canonical compact at offset %d", start)
		}
		return v, nil
	}
	n := int(b0>>2) + 4
	if n > 8 {
		return 0, decodeErr("compact of %d bytes at offset %d does not fit 64 bits", n, start)
	}
	b, err := r.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if b[n-1] == 0 || v < 1<<30 {
		return 0, decodeErr("non-canonical compact at offset %d", start)
	}
	return v, nil
}

// CompactBig reads a compact integer of any size (up to 536 bits).
func (r *Reader) CompactBig() (*big.Int, error) {
	start := r.off
	b0, err := r.U8()
	if err != nil {
		return nil, err
	}
	if b0&3 != 3 {
		r.off = start
		v, err := r.Compact()
		if err != nil {
			return nil, err
		}
		return new(big.Int).SetUint64(v), nil
	}
	n := int(b0>>2) + 4
	b, err := r.take(n)
	if err != nil {
		return nil, err
	}
	if b[n-1] == 0 {
		return nil, decodeErr("non-canonical compact at offset %d", start)
	}
	v := new(big.Int).SetBytes(reversed(b))
	if v.BitLen() <= 30 {
		return nil, decodeErr("non-canonical compact at offset %d", start)
	}
	return v, nil
}

// length reads a compact length and checks it against the bytes left,
// given that each element takes at least minElem bytes (0: elements may be
// empty, and the length is capped at maxEmptyElems).
func (r *Reader) length(minElem int) (int, error) {
	start := r.off
	n, err := r.Compact()
	if err != nil {
		return 0, err
	}
	if minElem > 0 {
		if n > uint64(r.Len()/minElem) {
			return 0, decodeErr("length %d at offset %d exceeds the %d bytes left", n, start, r.Len())
		}
	} else if n > maxEmptyElems {
		return 0, decodeErr("length %d of zero-sized elements at offset %d", n, start)
	}
	return int(n), nil
}

// maxEmptyElems caps sequences of zero-sized elements, which no input
// length bounds.
const maxEmptyElems = 1 << 16

// ByteVec reads a compact length and that many bytes (a Vec<u8>).
func (r *Reader) ByteVec() ([]byte, error) {
	n, err := r.length(1)
	if err != nil {
		return nil, err
	}
	return r.Bytes(n)
}

// String reads a str: a compact length and that many bytes. SCALE does not
// check UTF-8 and neither does this.
func (r *Reader) String() (string, error) {
	n, err := r.length(1)
	if err != nil {
		return "", err
	}
	b, err := r.take(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Option reads an Option tag: false for None, true for Some.
func (r *Reader) Option() (bool, error) {
	t, err := r.U8()
	if err != nil {
		return false, err
	}
	switch t {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, decodeErr("option tag %#x at offset %d", t, r.off-1)
}

// AppendCompact appends v as a SCALE compact integer.
func AppendCompact(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v<<2))
	case v < 1<<14:
		return binary.LittleEndian.AppendUint16(b, uint16(v<<2|1))
	case v < 1<<30:
		return binary.LittleEndian.AppendUint32(b, uint32(v<<2|2))
	}
	n := (bits.Len64(v) + 7) / 8
	b = append(b, byte((n-4)<<2|3))
	for i := 0; i < n; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// AppendCompactBig appends a non-negative v of at most 536 bits as a SCALE
// compact integer.
func AppendCompactBig(b []byte, v *big.Int) ([]byte, error) {
	if v.Sign() < 0 {
		return b, encodeErr("compact of negative %s", v)
	}
	if v.IsUint64() {
		return AppendCompact(b, v.Uint64()), nil
	}
	le := reversed(v.Bytes())
	if len(le) > 67 {
		return b, encodeErr("compact of %d bytes > 67", len(le))
	}
	b = append(b, byte((len(le)-4)<<2|3))
	return append(b, le...), nil
}

// AppendByteVec appends a Vec<u8>: compact length, then the bytes.
func AppendByteVec(b, v []byte) []byte {
	b = AppendCompact(b, uint64(len(v)))
	return append(b, v...)
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

// leBig returns the little-endian bytes b (two's complement when signed)
// as an integer.
func leBig(b []byte, signed bool) *big.Int {
	v := new(big.Int).SetBytes(reversed(b))
	if signed && len(b) > 0 && b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

// appendLEBig appends v in n little-endian bytes, two's complement when
// signed, failing when v does not fit.
func appendLEBig(b []byte, v *big.Int, n int, signed bool) ([]byte, error) {
	bitsN := uint(8 * n)
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), bitsN)
	if signed {
		lo.Neg(new(big.Int).Lsh(big.NewInt(1), bitsN-1))
		hi.Lsh(big.NewInt(1), bitsN-1)
	}
	if v.Cmp(lo) < 0 || v.Cmp(hi) >= 0 {
		return b, encodeErr("%s does not fit %d bits (signed %v)", v, bitsN, signed)
	}
	u := new(big.Int).Set(v)
	if u.Sign() < 0 {
		u.Add(u, new(big.Int).Lsh(big.NewInt(1), bitsN))
	}
	be := u.Bytes()
	out := make([]byte, n)
	for i := 0; i < len(be); i++ {
		out[i] = be[len(be)-1-i]
	}
	return append(b, out...), nil
}
