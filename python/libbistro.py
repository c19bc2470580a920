"""Python binding of bistro's scoring: the C library cmd/libbistro, through
ctypes. Standard library only.

Build the library once (scripts/libbistro writes build/libbistro.so), then:

    import libbistro

    lib = libbistro.Library()          # $BISTRO_LIB, else build/libbistro.so of this checkout
    resp = lib.score({
        "params": "run/params.json",
        "checkpoint": "…/checkpoints/4.safetensors",
        "aggregates": ["…/3/aggregate.safetensors", "…/4/aggregate.safetensors"],
        "dataset": "optics",
        "window": 6,
        "hotkey": "5Cyn2nMWaEMfx9WfobdMoteKoPF7hwP4Gw5MHBznqWFkisrK",
        "seed": "cc5786cd…",            # the hash of the window's seed block, from the chain
        "slice": "…/6/5Cyn2nMW….safetensors",
    })
    # {"verdict": "pass", "value": 1, "rel_err": 0, "reason": "rel err 0 <= tau 0.05"}
    # or, on bad input, {"error": {"code": "wrong_window", "message": "…", "field": "slice"}}

The request and response are those of `bistro score --request` (package
scoring in Go), byte for byte; the error codes are stable. Library.check
raises ScoreError instead of returning an error response.
"""

import ctypes
import json
import os
import sys

__all__ = ["ABI_VERSION", "Library", "ScoreError", "default_path"]

ABI_VERSION = 1


class ScoreError(Exception):
    """A request that could not be scored: code (stable, e.g. "wrong_window"),
    message, and the request field it is about (or None)."""

    def __init__(self, code, message, field=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


def default_path():
    """$BISTRO_LIB, else build/libbistro.so (.dylib on macOS) of the checkout
    this file is in."""
    env = os.environ.get("BISTRO_LIB")
    if env:
        return env
    ext = "dylib" if sys.platform == "darwin" else "so"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "build", "libbistro." + ext)


class Library:
    """The loaded library. Calls are independent and safe from several
    threads; ctypes releases the GIL while one runs."""

    def __init__(self, path=None):
        path = path or default_path()
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no libbistro here (build it with scripts/libbistro, or set BISTRO_LIB)")
        self.path = path
        lib = ctypes.CDLL(path)
        lib.bistro_score.argtypes = [ctypes.c_char_p]
        # A void pointer, not c_char_p: the response must go back to bistro_free.
        lib.bistro_score.restype = ctypes.c_void_p
        lib.bistro_free.argtypes = [ctypes.c_void_p]
        lib.bistro_free.restype = None
        lib.bistro_abi_version.argtypes = []
        lib.bistro_abi_version.restype = ctypes.c_int
        version = lib.bistro_abi_version()
        if version != ABI_VERSION:
            raise RuntimeError(f"{path}: ABI version {version}, this binding speaks {ABI_VERSION}")
        self._lib = lib

    def score_json(self, request):
        """Scores a request document (str, bytes or None for a NULL pointer)
        and returns the response document (str), exactly as the library
        wrote it."""
        if isinstance(request, str):
            request = request.encode("utf-8")
        ptr = self._lib.bistro_score(request)
        if not ptr:
            raise MemoryError("bistro_score returned NULL")
        try:
            return ctypes.string_at(ptr).decode("utf-8")
        finally:
            self._lib.bistro_free(ptr)

    def score(self, request):
        """Scores a request (a dict) and returns the response (a dict): a
        score, or {"error": {...}} on bad input."""
        return json.loads(self.score_json(json.dumps(request)))

    def check(self, request):
        """Like score, but raises ScoreError on bad input."""
        resp = self.score(request)
        err = resp.get("error")
        if err is not None:
            raise ScoreError(err.get("code"), err.get("message"), err.get("field"))
        return resp
