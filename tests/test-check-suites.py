#!/usr/bin/env python3
"""test-check-suites: tools/check-suites fails CI on a skipped or missing
required suite and passes a clean run (TAP output)."""
import json
import os
import subprocess
import sys
import tempfile

TOOL = os.path.join(os.environ["VFSEC_SOURCE_DIR"], "tools", "check-suites")


def run(entries, suites):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        for name, result in entries:
            f.write(json.dumps({"name": name, "result": result}) + "\n")
        path = f.name
    try:
        p = subprocess.run([sys.executable, TOOL, path] + suites,
                           capture_output=True, text=True, check=False)
    finally:
        os.unlink(path)
    return p.returncode, p.stdout


CASES = [
    # (description, entries, required suites, expected exit, expected closing line)
    ("clean run passes",
     [("vfsec:unit / a", "OK"), ("vfsec:integration / b", "OK")], ["unit", "integration"],
     0, "vfsec: 2 passed, 0 failed, 0 skipped"),
    ("a skip in a required suite fails",
     [("vfsec:unit / a", "OK"), ("vfsec:integration / b", "SKIP")], ["unit", "integration"],
     1, "vfsec: 1 passed, 0 failed, 1 skipped"),
    ("a skip outside the required suites passes",
     [("vfsec:unit / a", "OK"), ("vfsec:nested / c", "SKIP")], ["unit"],
     0, "vfsec: 1 passed, 0 failed, 1 skipped"),
    ("a required suite with no test fails",
     [("vfsec:unit / a", "OK")], ["unit", "system"],
     1, "vfsec: 1 passed, 0 failed, 0 skipped"),
    ("a failure fails",
     [("vfsec:unit / a", "FAIL"), ("vfsec:unit / b", "TIMEOUT")], ["unit"],
     1, "vfsec: 0 passed, 2 failed, 0 skipped"),
]

print(f"1..{len(CASES)}")
bad = 0
for i, (desc, entries, suites, code, line) in enumerate(CASES, 1):
    rc, out = run(entries, suites)
    last = out.strip().splitlines()[-1] if out.strip() else ""
    ok = rc == code and last == line
    bad += not ok
    print(f"{'ok' if ok else 'not ok'} {i} {desc}" + ("" if ok else f" (exit {rc}, last line {last!r})"))
sys.exit(1 if bad else 0)
