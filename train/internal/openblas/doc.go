// Package openblas is package train's link to OpenBLAS, built only with the
// openblas build tag (it needs cgo and Debian's libopenblas-dev, which
// scripts/openblas installs). It is a package of its own because Go does
// not build assembly files into a package that uses cgo.
package openblas
