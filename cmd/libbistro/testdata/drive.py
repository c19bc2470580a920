"""Drives libbistro through the Python binding for TestScorePathsAgree.

Reads cases, one JSON object a line, on stdin:
  {"name": N, "request": {...}}       a request object (json.dumps'd)
  {"name": N, "raw": "..."}           a request document as given (UTF-8)
  {"name": N, "hex": "..."}           a request document of arbitrary bytes
  {"name": N, "null": true}           a NULL pointer
  {"name": N, "huge": SIZE}           SIZE bytes of "{" (past the request bound)
and prints {"name": N, "response": <the library's response, as written>}
for each. Then it calls every case again from 4 threads at once and checks
that the answers do not change, and prints {"alive": true, "calls": C}: the
host process survived every call.
"""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python"))
import libbistro  # noqa: E402


def document(case):
    if "request" in case:
        return json.dumps(case["request"])
    if "raw" in case:
        return case["raw"].encode("utf-8")
    if "hex" in case:
        return bytes.fromhex(case["hex"])
    if case.get("null"):
        return None
    if "huge" in case:
        return b"{" * case["huge"]
    raise ValueError(f"unknown case {case}")


def main():
    lib = libbistro.Library(sys.argv[1])
    cases = [json.loads(line) for line in sys.stdin if line.strip()]
    answers = {}
    for case in cases:
        answers[case["name"]] = lib.score_json(document(case))
        print(json.dumps({"name": case["name"], "response": answers[case["name"]]}), flush=True)

    errors = []

    def again(part):
        for case in part:
            got = lib.score_json(document(case))
            if got != answers[case["name"]]:
                errors.append(f"{case['name']}: {got} != {answers[case['name']]}")

    threads = [threading.Thread(target=again, args=(cases[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(json.dumps({"alive": True, "calls": 2 * len(cases)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
