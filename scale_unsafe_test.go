package bistro_test

import "unsafe"

// unsafeBytes views v as its bytes (the platform is little-endian, as the
// file format).
func unsafeBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}
