#!/usr/bin/env bash
# Every GPU check of the project in one call (docs/training.md, "GPU checks"), under 5 minutes on one
# GPU: `python -m bench.gpu` (its arguments are passed on), then the tests marked `cuda`. The last line
# printed is one JSON object: bench.gpu's, with the tests' counts added as "cuda_tests".
# Without CUDA: {"skipped": "no CUDA device"} and exit 0 (the tests are not run).
# The interpreter: $PYTHON if set, else the project's .venv (README command 1 makes it), else python3.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

timeout 200 "$PYTHON" -m bench.gpu "$@" | tee "$work/bench.out"
bench_rc=${PIPESTATUS[0]}
bench_json=$(tail -n 1 "$work/bench.out")
if [[ $bench_rc -ne 0 || -z "$bench_json" ]]; then
    echo "{\"error\": \"python -m bench.gpu failed with exit code $bench_rc\"}"
    exit 1
fi
if [[ "$bench_json" == *'"skipped"'* ]]; then
    exit 0
fi

timeout 90 "$PYTHON" -m pytest -q -m cuda -p no:cacheprovider --junitxml "$work/cuda.xml" tests/test_cuda.py
tests_rc=$?
"$PYTHON" - "$work/cuda.xml" "$tests_rc" "$bench_json" <<'PY'
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

xml, rc, out = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
tests = {"rc": rc}
if xml.exists():
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    tests.update(counts, passed=counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"])
out["cuda_tests"] = tests
out["ok"] = bool(out.get("ok")) and rc == 0
print(json.dumps(out))
PY
[[ $tests_rc -eq 0 ]]
