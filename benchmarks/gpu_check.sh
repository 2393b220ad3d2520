#!/usr/bin/env bash
# The whole GPU check of docs/cuda.md ("Verification still owed") in one call, for a
# machine with an NVIDIA GPU, a CUDA build of torch and no network. Every step runs under
# its own time limit and the script keeps going after a failure; each step's output goes
# to $OUT/gpu/<step>.log and a summary table (step, status, seconds, the key figure) is
# printed last and written to $OUT/gpu/summary.txt.
#
#   cp -r ../shared/data/names .gpu-data/names        # the data travels with the checkout
#   OUT=/tmp/out bash benchmarks/gpu_check.sh          # (the device tool sets $OUT)
#   STEPS="build tests" bash benchmarks/gpu_check.sh   # a subset, e.g. for a second call
#
# Steps: env build plugins tests memcheck racecheck run_fused run_default run_nccl bench.
# SEQKIT_DATA (default .gpu-data/names) is the name2lang directory; EPOCHS (default 12)
# the epochs of the training runs. The build uses MAX_JOBS=16 against the installed torch.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/seqkit-gpu}"
LOG="$OUT/gpu"
mkdir -p "$LOG"
export SEQKIT_DATA="${SEQKIT_DATA:-$PWD/.gpu-data/names}"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
EPOCHS="${EPOCHS:-12}"
PY="${PYTHON:-python3}"
STEPS="${STEPS:-env build plugins tests memcheck racecheck run_fused run_default run_nccl bench}"
SUMMARY=()

# step NAME LIMIT_S FIGURE_CMD -- COMMAND...: run COMMAND under a time limit into NAME.log;
# FIGURE_CMD (a shell snippet reading the log) gives the summary's figure
step() {
  local name="$1" limit="$2" figure="$3"; shift 4
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  local t0=$SECONDS status
  echo "== $name: $*" | tee "$LOG/$name.log"
  timeout "$limit" "$@" >>"$LOG/$name.log" 2>&1
  local rc=$?
  case $rc in 0) status=ok ;; 124) status="timeout ${limit}s" ;; *) status="FAILED rc=$rc" ;; esac
  local fig
  fig="$(bash -c "$figure" _ "$LOG/$name.log" 2>/dev/null | tail -1 | cut -c1-90)"
  SUMMARY+=("$(printf '%-12s %-16s %6ss  %s' "$name" "$status" "$((SECONDS - t0))" "$fig")")
  echo "== $name: $status in $((SECONDS - t0)) s"
}

metric() {  # metric RUN_DIR KEY...: keys of RUN_DIR/metrics.json
  "$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/metrics.json")); print(" ".join(f"{k}={m.get(k)}" for k in sys.argv[2:]), m.get("path", {}).get("cell_runs", ""))' "$@"
}
export -f metric; export PY

step env 60 'grep -m1 "NVIDIA\|GPU" "$1"' -- bash -c \
  "nvidia-smi; $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0))'; nvcc --version | tail -1; command -v compute-sanitizer"
step build 900 'grep -m1 -i "cuda kernels\|error" "$1"' -- \
  env MAX_JOBS=16 "$PY" -m pip install --no-build-isolation --no-deps -e .
step plugins 120 'tail -1 "$1"' -- bash -c \
  "$PY -m seqkit plugins; $PY -c 'import seqkit.ops.runtime as r; print(\"backend\", r.backend(), \"cuda kernels\", r.has_cuda_kernels())'"
step tests 1200 'grep -E "passed|failed" "$1"' -- \
  "$PY" -m pytest -q -p no:cacheprovider -m "not slow and not install" tests/ops
step memcheck 900 'grep -E "ERROR SUMMARY|passed|failed" "$1"' -- \
  compute-sanitizer --tool memcheck --error-exitcode 3 "$PY" -m pytest -q -p no:cacheprovider -x \
  tests/ops/test_cuda_ops.py -k "ops_match_cpu_ops or no_bias or opcheck or encode_pack"
step racecheck 900 'grep -E "RACECHECK SUMMARY|ERROR SUMMARY|passed|failed" "$1"' -- \
  compute-sanitizer --tool racecheck --error-exitcode 3 "$PY" -m pytest -q -p no:cacheprovider -x \
  tests/ops/test_cuda_ops.py -k "persistent and (ops_match_cpu_ops or name2lang_sizes)"
step run_fused 900 "metric $OUT/run_fused top1 macro_f1 train_seconds" -- \
  "$PY" -m seqkit run --cell fused-gru --collator fused-pack --device cuda --epochs "$EPOCHS" --out "$OUT/run_fused" \
  --overwrite
step run_default 900 "metric $OUT/run_default top1 macro_f1 train_seconds" -- \
  "$PY" -m seqkit run --device cuda --epochs "$EPOCHS" --out "$OUT/run_default" --overwrite
step run_nccl 900 "metric $OUT/run_nccl top1 train_seconds" -- \
  "$PY" -m seqkit run --cell fused-gru --collator fused-pack --device cuda --nproc 1 --epochs 2 \
  --out "$OUT/run_nccl" --overwrite
step bench 1200 'grep -iE "vs cudnn|ratio|x " "$1"' -- \
  "$PY" benchmarks/bench_cuda.py --json "$OUT/gpu/cuda.json"

{
  echo
  echo "seqkit GPU check ($(date -u +%F' '%H:%M) UTC, logs in $LOG)"
  printf '%-12s %-16s %7s  %s\n' step status time figure
  printf '%s\n' "${SUMMARY[@]}"
} | tee "$LOG/summary.txt"
