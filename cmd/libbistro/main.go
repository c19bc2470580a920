// Command libbistro is bistro's scoring as a C library, for validators
// written in other languages (python/libbistro.py is its Python binding).
// Build it with scripts/libbistro, which writes build/libbistro.so (.dylib
// on macOS) and build/libbistro.h:
//
//	go build -buildmode=c-shared -o build/libbistro.so ./cmd/libbistro
//
// Its whole surface is three functions; no Go type crosses it, only
// NUL-terminated UTF-8 JSON:
//
//	char *bistro_score(char *request);   // request JSON → response JSON
//	void  bistro_free(char *response);   // frees what bistro_score returned
//	int   bistro_abi_version(void);      // 1
//
// The request and the response are package scoring's (Request, Response):
// the same as `bistro score --request`, byte for byte (a request, being a C
// string, ends at its first NUL byte). bistro_score always returns a
// response the caller must free with bistro_free, an error response on bad
// input; it reads at most scoring.MaxRequestBytes+1 bytes of the request and
// accepts NULL. It does all its work on the calling thread's goroutine (one
// trainer worker), where it recovers from any panic, so a Go panic never
// reaches the host. It is safe to call from several threads at once — the
// way to use several cores; each call loads its own base, and the library
// keeps nothing between calls.
package main

/*
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"context"
	"unsafe"

	"github.com/bistro-go/bistro/scoring"
)

// abiVersion changes when the exported functions or the meaning of their
// JSON change incompatibly.
const abiVersion = 1

// bistro_score scores the request (a JSON object, see package scoring) and
// returns the response JSON, to be freed with bistro_free. It never returns
// NULL unless memory is exhausted.
//
//export bistro_score
func bistro_score(request *C.char) *C.char {
	var b []byte
	if request != nil {
		// Read one byte past the bound at most: the parser refuses the rest.
		n := C.strnlen(request, C.size_t(scoring.MaxRequestBytes+1))
		b = C.GoBytes(unsafe.Pointer(request), C.int(n))
	}
	return C.CString(string(answer(request != nil, b)))
}

// bistro_free frees a response of bistro_score; NULL is ignored.
//
//export bistro_free
func bistro_free(response *C.char) {
	C.free(unsafe.Pointer(response))
}

// bistro_abi_version is the version of this interface: 1.
//
//export bistro_abi_version
func bistro_abi_version() C.int {
	return abiVersion
}

// score is what answer calls (a variable so that a test can make it panic):
// with one worker, the recomputation runs on the calling goroutine, where a
// panic is recovered — the trainer's worker goroutines would be out of reach.
var score = scoring.Options{Workers: 1}.ScoreDocument

// answer returns the response document for a request document (present is
// false for a NULL pointer). No panic leaves it.
func answer(present bool, request []byte) (response []byte) {
	defer func() {
		if r := recover(); r != nil {
			response = scoring.Recovered(r).Encode()
		}
	}()
	if !present {
		return (&scoring.Response{Error: &scoring.Error{Code: scoring.BadRequest, Message: "request is NULL"}}).Encode()
	}
	return score(context.Background(), request).Encode()
}

func main() {}
