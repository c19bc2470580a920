package scale

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// Hasher is a storage hasher of FRAME, numbered as the metadata numbers
// them.
type Hasher uint8

// The storage hashers, in the metadata's order.
const (
	Blake2_128 Hasher = iota
	Blake2_256
	Blake2_128Concat
	Twox128
	Twox256
	Twox64Concat
	Identity
)

var hasherNames = [...]string{"Blake2_128", "Blake2_256", "Blake2_128Concat", "Twox128", "Twox256", "Twox64Concat", "Identity"}

func (h Hasher) String() string {
	if int(h) < len(hasherNames) {
		return hasherNames[h]
	}
	return fmt.Sprintf("Hasher(%d)", uint8(h))
}

// Valid reports whether h is one of the seven hashers.
func (h Hasher) Valid() bool { return h <= Identity }

// Append appends the hash of key to b: the digest, followed by the key
// itself for the Concat hashers and Identity.
func (h Hasher) Append(b, key []byte) []byte {
	switch h {
	case Blake2_128:
		return append(b, Blake2b128(key)...)
	case Blake2_256:
		d := blake2b.Sum256(key)
		return append(b, d[:]...)
	case Blake2_128Concat:
		return append(append(b, Blake2b128(key)...), key...)
	case Twox128:
		return AppendTwox(b, key, 2)
	case Twox256:
		return AppendTwox(b, key, 4)
	case Twox64Concat:
		return append(AppendTwox(b, key, 1), key...)
	case Identity:
		return append(b, key...)
	}
	return b
}

// digestLen is the length of the hash part of h's output (0 for Identity).
func (h Hasher) digestLen() int {
	switch h {
	case Blake2_128, Blake2_128Concat, Twox128:
		return 16
	case Blake2_256, Twox256:
		return 32
	case Twox64Concat:
		return 8
	}
	return 0
}

// concat reports whether the key follows the digest, so that it can be
// read back from a storage key.
func (h Hasher) concat() bool {
	return h == Blake2_128Concat || h == Twox64Concat || h == Identity
}

// Blake2b128 returns the 16-byte BLAKE2b digest of b.
func Blake2b128(b []byte) []byte {
	d, _ := blake2b.New(16, nil) // 16 is a valid size: never fails
	d.Write(b)
	return d.Sum(nil)
}

// Blake2b256 returns the 32-byte BLAKE2b digest of b (Substrate's
// BlakeTwo256, the extrinsic and block hash).
func Blake2b256(b []byte) [32]byte { return blake2b.Sum256(b) }

// AppendTwox appends Substrate's twox hash of data with n 64-bit lanes:
// xxHash64 with seeds 0 … n-1, each little-endian (n=1 Twox64, 2 Twox128,
// 4 Twox256).
func AppendTwox(b, data []byte, n int) []byte {
	for seed := 0; seed < n; seed++ {
		b = binary.LittleEndian.AppendUint64(b, XXH64(data, uint64(seed)))
	}
	return b
}

const (
	xxPrime1 uint64 = 11400714785074694791
	xxPrime2 uint64 = 14029467366897019727
	xxPrime3 uint64 = 1609587929392839161
	xxPrime4 uint64 = 9650029242287828579
	xxPrime5 uint64 = 2870177450012600261
)

func xxRound(acc, in uint64) uint64 {
	acc += in * xxPrime2
	return bits.RotateLeft64(acc, 31) * xxPrime1
}

func xxMerge(acc, v uint64) uint64 {
	acc ^= xxRound(0, v)
	return acc*xxPrime1 + xxPrime4
}

// XXH64 is the 64-bit xxHash of b with a seed.
func XXH64(b []byte, seed uint64) uint64 {
	n := len(b)
	var h uint64
	if n >= 32 {
		v1 := seed + xxPrime1 + xxPrime2
		v2 := seed + xxPrime2
		v3 := seed
		v4 := seed - xxPrime1
		for len(b) >= 32 {
			v1 = xxRound(v1, binary.LittleEndian.Uint64(b[0:]))
			v2 = xxRound(v2, binary.LittleEndian.Uint64(b[8:]))
			v3 = xxRound(v3, binary.LittleEndian.Uint64(b[16:]))
			v4 = xxRound(v4, binary.LittleEndian.Uint64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = seed + xxPrime5
	}
	h += uint64(n)
	for len(b) >= 8 {
		h ^= xxRound(0, binary.LittleEndian.Uint64(b))
		h = bits.RotateLeft64(h, 27)*xxPrime1 + xxPrime4
		b = b[8:]
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b)) * xxPrime1
		h = bits.RotateLeft64(h, 23)*xxPrime2 + xxPrime3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * xxPrime5
		h = bits.RotateLeft64(h, 11) * xxPrime1
	}
	h ^= h >> 33
	h *= xxPrime2
	h ^= h >> 29
	h *= xxPrime3
	h ^= h >> 32
	return h
}
