//go:build !amd64.v3

package train

// tanhUnfused is true when math.Tanh's polynomial is compiled without fused
// multiply-adds (GOAMD64 below v3), the arithmetic tanhAVX2 replicates.
const tanhUnfused = true
