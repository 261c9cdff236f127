#!/usr/bin/env python3
"""Writes N request documents as JSON Lines, cycling through the conformance vectors that have a
`request` (not `requestText`), for the `csplease-wasm eval` throughput figure in BENCHMARKS.md.

    python3 crates/wasm-sandbox/benches/make-requests.py 100000 > requests.jsonl
"""
import json
import pathlib
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
vectors = pathlib.Path(__file__).resolve().parents[3] / "tests" / "vectors"
lines = []
for path in sorted(vectors.glob("*.json")):
    for case in json.loads(path.read_text()):
        if "request" in case:
            lines.append(json.dumps(case["request"], separators=(",", ":"), ensure_ascii=False))
out = sys.stdout
for i in range(n):
    out.write(lines[i % len(lines)])
    out.write("\n")
