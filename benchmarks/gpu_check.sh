#!/usr/bin/env bash
# One short GPU check (well under 10 minutes on one GPU): the CUDA tests, then the search-step,
# curvature and training benchmarks on --device cuda, every result as one JSON line on stdout
# (progress and errors on stderr). Run from the repository root on a machine with a GPU:
#
#     bash benchmarks/gpu_check.sh > gpu.jsonl
#
# and record the figures, with the GPU's name, in docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if ! "$PY" -c "import rdarts" 2>/dev/null; then
  "$PY" -m pip install --quiet -e '.[dev]' >&2 || exit 1
fi
say() { printf '%s\n' "$1"; }

say "$("$PY" - <<'PYEOF'
import json, platform, torch
print(json.dumps({"check": "device", "cuda": torch.cuda.is_available(),
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                  "torch": torch.__version__, "python": platform.python_version()}))
PYEOF
)"

start=$(date +%s)
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  tests="skipped: no CUDA device"
elif timeout 240 "$PY" -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider -rs >&2; then
  tests=passed
else
  tests=failed
fi
say "{\"check\": \"cuda_tests\", \"result\": \"$tests\", \"seconds\": $(( $(date +%s) - start ))}"

# run_json NAME SECONDS CMD...: one JSON line {"check": NAME, "result": <the command's JSON>}.
run_json() {
  local name=$1 limit=$2; shift 2
  local out err; out=$(mktemp); err=$(mktemp)
  if timeout "$limit" "$@" > "$out" 2> "$err"; then status=ok; else status=failed; fi
  "$PY" - "$name" "$status" "$out" "$err" <<'PYEOF'
import json, sys
name, status, path, errors = sys.argv[1:]
text = open(path).read()
try:
    result = json.loads(text)
except json.JSONDecodeError:
    result = text[-2000:]
record = {"check": name, "status": status, "result": result}
if status != "ok":
    record["stderr"] = open(errors).read().strip().splitlines()[-3:]
print(json.dumps(record))
PYEOF
  rm -f "$out" "$err"
}

# Search iteration, first and second order, settings (a) and (b), fp32 (the default).
run_json search_step 180 "$PY" benchmarks/search_step.py --device cuda --settings a,b \
  --iterations 5
# The search's speed options (tests/test_speed_options.py), same settings.
run_json search_step_speed 240 "$PY" benchmarks/search_step.py --device cuda --settings a,b \
  --iterations 5 --variants second_order_channels_last,second_order_lean,second_order_bf16,\
second_order_fast,second_order_fast_bf16,first_order_fast,second_order_fast_batched,\
first_order_batched
# lambda_max by Lanczos versus the dense Hessian, settings (a) and (b).
run_json curvature 150 "$PY" benchmarks/curvature.py --device cuda --settings a,b
# Training throughput: fp32, channels_last, bf16 autocast, both.
run_json train_fp32 60 "$PY" benchmarks/train_throughput.py --device cuda --steps 20
run_json train_channels_last 60 "$PY" benchmarks/train_throughput.py --device cuda --steps 20 \
  --channels-last
run_json train_bf16 60 "$PY" benchmarks/train_throughput.py --device cuda --steps 20 --amp
run_json train_channels_last_bf16 60 "$PY" benchmarks/train_throughput.py --device cuda \
  --steps 20 --channels-last --amp
