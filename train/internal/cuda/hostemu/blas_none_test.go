//go:build cgo && !openblas

package hostemu_test

// trainIsReference is true: package train computes the reference bits in
// this build.
const trainIsReference = true
