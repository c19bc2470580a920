//go:build cgo && openblas

package hostemu_test

// trainIsReference is false in the openblas build: package train's products
// run on OpenBLAS there, whose bits are not the default build's (see
// package train's doc), so only the pinned digests are a reference.
const trainIsReference = false
