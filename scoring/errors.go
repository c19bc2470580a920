package scoring

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/bistro-go/bistro"
)

// Code classifies why a request could not be scored. Codes are stable: the
// C library's callers branch on them.
type Code string

// The codes, and what each covers. A slice that is read, checked and
// compared is a score (pass, fail or slash), never an error; a cheap check
// that fails on the slice's values (the norm bound) is a fail with its
// reason, as a validator records it.
const (
	// BadRequest: the request itself — not one JSON object, a field missing,
	// unknown, repeated or of the wrong type, an SS58 address or a hash that
	// does not parse, the wrong number of aggregates for the window.
	BadRequest Code = "bad_request"
	// Unreadable: a file the request names cannot be read (missing, not a
	// regular file, no permission).
	Unreadable Code = "unreadable"
	// BadParams: the Params file does not load or validate, or names a model
	// this build has no trainer for.
	BadParams Code = "bad_params"
	// BadDataset: the dataset cannot be opened, or is not the one the Params
	// pin (digest, pages, page length).
	BadDataset Code = "bad_dataset"
	// BadFile: a protocol file is malformed or truncated, too large, of
	// another kind, protocol version or shape.
	BadFile Code = "bad_file"
	// NonFinite: a file holds NaN or ±Inf.
	NonFinite Code = "non_finite"
	// WrongWindow: a file is of another window than the request implies, or
	// the checkpoint is newer than the window.
	WrongWindow Code = "wrong_window"
	// WrongHotkey: a file is signed by another hotkey than expected (the
	// slice by another miner, the checkpoint or an aggregate by another than
	// the lead).
	WrongHotkey Code = "wrong_hotkey"
	// BadSignature: a file's signature does not verify.
	BadSignature Code = "bad_signature"
	// WrongParams: a file was made under other Params (another digest).
	WrongParams Code = "wrong_params"
	// WrongNetUID: a file is of another subnet.
	WrongNetUID Code = "wrong_netuid"
	// WrongSeed: a file names another seed than the request's.
	WrongSeed Code = "wrong_seed"
	// WrongBase: the state digests disagree — an aggregate does not continue
	// the chain from the checkpoint, a checkpoint's θ is not what it says, or
	// the slice names another base than the replayed base(window).
	WrongBase Code = "wrong_base"
	// Internal: anything else (a bug; a recovered panic says so).
	Internal Code = "internal"
)

// exitStatus are the statuses of `bistro score`, one per code; 0 is a score.
var exitStatus = map[Code]int{
	Internal: 1, BadRequest: 2, Unreadable: 3, BadParams: 4, BadDataset: 5, BadFile: 6, NonFinite: 7,
	WrongWindow: 8, WrongHotkey: 9, BadSignature: 10, WrongParams: 11, WrongNetUID: 12, WrongSeed: 13,
	WrongBase: 14,
}

// Codes lists every code in the order of their exit statuses.
func Codes() []Code {
	return []Code{Internal, BadRequest, Unreadable, BadParams, BadDataset, BadFile, NonFinite, WrongWindow,
		WrongHotkey, BadSignature, WrongParams, WrongNetUID, WrongSeed, WrongBase}
}

// ExitStatus is the exit status of `bistro score` for c: 1 … 14, distinct
// per code (2 is bad_request, the tool's usage status); 1 for an unknown
// code.
func (c Code) ExitStatus() int {
	if s, ok := exitStatus[c]; ok {
		return s
	}
	return 1
}

// Error is a request that could not be scored.
type Error struct {
	Code Code `json:"code"`
	// Message says what was wrong, naming the file and what was expected.
	Message string `json:"message"`
	// Field is the request field the error is about ("slice",
	// "aggregates[1]", …), empty when it is about the request as a whole.
	Field string `json:"field,omitempty"`

	err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error, so that errors.Is finds the root
// package's sentinels (bistro.ErrWrongWindow, …).
func (e *Error) Unwrap() error { return e.err }

func badRequest(field, format string, a ...any) *Error {
	return &Error{Code: BadRequest, Message: fmt.Sprintf(format, a...), Field: field}
}

// sentinels map the root package's decoder rejections to codes; each
// rejection wraps exactly one.
var sentinels = []struct {
	err  error
	code Code
}{
	{bistro.ErrNonFinite, NonFinite},
	{bistro.ErrWrongWindow, WrongWindow},
	{bistro.ErrWrongHotkey, WrongHotkey},
	{bistro.ErrBadSignature, BadSignature},
	{bistro.ErrWrongParams, WrongParams},
	{bistro.ErrWrongNetUID, WrongNetUID},
	{bistro.ErrWrongSeed, WrongSeed},
	{bistro.ErrWrongBase, WrongBase},
	{bistro.ErrMalformed, BadFile},
	{bistro.ErrTooLarge, BadFile},
	{bistro.ErrWrongShape, BadFile},
	{bistro.ErrWrongKind, BadFile},
	{bistro.ErrWrongProtocol, BadFile},
}

// fileError classifies an error about the file at path, named by request
// field: a read error as Unreadable; for the protocol files (fallback
// Internal) a decoder rejection by its sentinel; anything else as fallback.
func fileError(field, path string, err error, fallback Code) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code := fallback
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission), errors.Is(err, errNotRegular):
		code = Unreadable
	case fallback == Internal:
		for _, s := range sentinels {
			if errors.Is(err, s.err) {
				code = s.code
				break
			}
		}
	}
	msg := err.Error()
	if pe, ok := err.(*fs.PathError); ok && path != "" {
		msg = pe.Err.Error() // the path is said once, below
	}
	if path != "" {
		msg = fmt.Sprintf("%s %s: %s", field, path, msg)
	} else {
		msg = fmt.Sprintf("%s: %s", field, msg)
	}
	return &Error{Code: code, Message: msg, Field: field, err: err}
}

// errNotRegular is a path that names a directory or a device.
var errNotRegular = errors.New("not a regular file")
