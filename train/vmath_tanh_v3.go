//go:build amd64.v3

package train

// tanhUnfused is false: with GOAMD64=v3 the compiler may fuse the
// multiply-adds of math.Tanh's polynomial, which tanhAVX2 does not replicate,
// so tanhSlice calls math.Tanh.
const tanhUnfused = false
