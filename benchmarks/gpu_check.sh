#!/usr/bin/env bash
# The course's GPU path in one run of at most 10 minutes, with a short report:
#
#   benchmarks/gpu_check.sh             # on a CUDA machine
#   benchmarks/gpu_check.sh --dry-run   # anywhere: a CPU fallback (tiny shapes, no notebook)
#
# 1. the SSIM benchmark on cuda: medians in ms, ratios to piqa and pytorch-msssim, memory
#    (benchmarks/ssim_speed.py --device cuda --skip-training --markdown ...);
# 2. float32 accuracy of SSIM and MS-SSIM under bfloat16 autocast, against float64;
# 3. notebook 04 at the gpu profile (python -m helpers.tools.batch --profile gpu --only 04), timed;
# 4. the unit tests marked for CUDA (pytest -m cuda).
#
# The report goes to $OUT/report.md (default runs/gpu_check/), with each step's log beside it.
# Each step has its own time limit (in seconds: 150, 60, 300, 90); a step that fails or runs out
# is reported as such and the others still run. The exit status is 1 if any step failed.
# PYTHON names the interpreter (default: python). Run from anywhere: it works in the repository root.
set -uo pipefail

DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]; got $1" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.." || exit 2
if [ -z "${PYTHON:-}" ]; then  # the project's environment where `make` has made one, else the python on PATH
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
OUT_DIR=${OUT:-runs/gpu_check}
mkdir -p "$OUT_DIR" || exit 2
REPORT="$OUT_DIR/report.md"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export COURSE_ROOT="$PWD"
FAILED=0

if [ "$DRY_RUN" = 1 ]; then
  DEVICE=cpu
  BENCH_ARGS=(--device cpu --shapes small --repeats 2 --skip-training)
else
  DEVICE=cuda
  BENCH_ARGS=(--device cuda --repeats 15 --skip-training)
  if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no CUDA device here: run with --dry-run for the CPU fallback" >&2
    exit 2
  fi
fi

# step NAME LIMIT COMMAND...: run COMMAND with a time limit, log it, add a line to the report
step() {
  local name=$1 limit=$2
  shift 2
  local log="$OUT_DIR/$name.log" began ended status
  began=$(date +%s)
  timeout "$limit" "$@" >"$log" 2>&1
  status=$?
  ended=$(date +%s)
  if [ "$status" = 0 ]; then
    echo "- $name: passed in $((ended - began)) s (log: $name.log)" >>"$REPORT"
  elif [ "$status" = 124 ]; then
    echo "- $name: **stopped after its limit of $limit s** (log: $name.log)" >>"$REPORT"
    FAILED=1
  else
    echo "- $name: **failed with status $status** after $((ended - began)) s (log: $name.log)" >>"$REPORT"
    FAILED=1
  fi
}

{
  echo "# GPU check$([ "$DRY_RUN" = 1 ] && echo ' (dry run: CPU fallback, tiny shapes, no notebook)')"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); device $DEVICE; $("$PYTHON" -c 'import torch; print("torch", torch.__version__,
"CUDA", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")')"
  echo
  echo "## Steps"
  echo
} >"$REPORT"

step ssim_speed 150 "$PYTHON" benchmarks/ssim_speed.py "${BENCH_ARGS[@]}" --markdown "$OUT_DIR/ssim_speed.md"

step autocast_accuracy 60 "$PYTHON" - "$DEVICE" "$OUT_DIR/autocast_accuracy.md" <<'PY'
"""float32 SSIM and MS-SSIM under bfloat16 autocast against float64, on a photograph and noisy copies."""
import sys

import numpy as np
import torch
from skimage import data

from helpers.ssim import ms_ssim, ssim

device, path = sys.argv[1], sys.argv[2]
image = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
lines = ["| metric | noise | float32 under autocast | float64 | error | bar |", "|---|---|---|---|---|---|"]
worst = {}
for sigma in (0.01, 0.05, 0.2):
    noise = sigma * torch.randn(image.shape, generator=torch.Generator().manual_seed(0))
    x, y = image.to(device), (image + noise).clamp(0, 1).to(device)
    for name, metric, bar in (("ssim", ssim, 1e-6), ("ms_ssim", ms_ssim, 3e-7)):
        with torch.autocast(device, dtype=torch.bfloat16):
            cast = metric(x, y)
        assert cast.dtype == torch.float32, cast.dtype
        exact = metric(x.double(), y.double()).item()
        error = abs(cast.item() - exact)
        worst[name] = max(worst.get(name, 0.0), error / bar)
        lines.append(f"| {name} | {sigma:g} | {cast.item():.9f} | {exact:.9f} | {error:.1e} | {bar:.0e} |")
open(path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if max(worst.values()) <= 1 else 1)
PY

if [ "$DRY_RUN" = 1 ]; then
  echo "- notebook_04: left out (dry run)" >>"$REPORT"
else
  step notebook_04 300 "$PYTHON" -m helpers.tools.batch --profile gpu --only 04 --no-progress \
    --output "$OUT_DIR/notebooks"
fi

step cuda_tests 90 "$PYTHON" -m pytest tests/test_ssim.py -m cuda -q -p no:cacheprovider -rs

{
  echo
  for part in ssim_speed autocast_accuracy; do
    if [ -f "$OUT_DIR/$part.md" ]; then
      echo "## $part"
      echo
      cat "$OUT_DIR/$part.md"
      echo
    fi
  done
  echo "## CUDA tests"
  echo
  echo '```'
  tail -n 5 "$OUT_DIR/cuda_tests.log"
  echo '```'
} >>"$REPORT"

echo "report: $REPORT"
exit "$FAILED"
