#!/usr/bin/env bash
# GPU check, for a machine with CUDA GPUs (none is available where this project is developed).
#
#   scripts/gpu_check.sh [ITERATIONS]        (default 300; about five minutes on recent GPUs)
#
# Trains the default preset (densepose_rcnn_R_50_FPN_s1x, mixed precision) on synthetic people
# for ITERATIONS iterations, first on one GPU, then with torchrun on every GPU; evaluates the
# result; prints s/iter, images/s and peak memory of both runs, next to detectron2's published
# R_50_FPN_s1x figures (0.359 s/iter on 8 V100 with 16 images per iteration, 0.066 s/image
# inference, 4.5 GB). From scratch, a few hundred iterations do not make a useful model: this
# checks the CUDA, AMP and NCCL paths and measures speed.
set -euo pipefail
cd "$(dirname "$0")/.."
ITER=${1:-300}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-out/gpu_check}
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -lt 1 ]; then
  echo "gpu_check: no CUDA device here (torch.cuda.device_count() = 0)" >&2
  exit 1
fi
mkdir -p "$OUT"
if [ ! -f "$OUT/synth/densepose.json" ]; then
  $PY -m annotator.cli synth --count 512 --size 640 --out "$OUT/synth" --seed 1
fi
if [ ! -f "$OUT/val/densepose.json" ]; then
  $PY -m annotator.cli synth --count 64 --size 640 --out "$OUT/val" --seed 2
fi
COMMON=(--config R_50_FPN_s1x --data "$OUT/synth" --max-iter "$ITER" --weights none
        --set solver.amp=true --set solver.warmup_iters=50 --set "solver.steps=[$ITER]"
        --set solver.checkpoint_period=0 --set data.num_workers=4 --set solver.log_period=20)

rm -rf "$OUT/one" "$OUT/all"
echo "== one GPU, 2 images per iteration"
$PY -m annotator.cli model train "${COMMON[@]}" --set solver.ims_per_batch=2 --out "$OUT/one"
echo "== torchrun on $GPUS GPU(s), 2 images per GPU"
$PY -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m annotator.cli model train \
  "${COMMON[@]}" --set "solver.ims_per_batch=$((2 * GPUS))" --out "$OUT/all"
echo "== evaluation (one GPU)"
$PY -m annotator.cli model evaluate --checkpoint "$OUT/all" --data "$OUT/val" --out "$OUT/eval" \
  | head -12

$PY - "$OUT" "$GPUS" <<'EOF'
import json, statistics, sys
from pathlib import Path

out, gpus = Path(sys.argv[1]), int(sys.argv[2])
for name, images in (("one", 2), ("all", 2 * gpus)):
    rows = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "time" in r][1:]  # the first logged step includes warm-up
    s = statistics.median(r["time"] for r in steps)
    mem = max(r["memory_mb"] for r in steps) / 1024
    print(f"{name:>3}: {s:.3f} s/iter, {images / s:.1f} images/s, peak {mem:.1f} GB per GPU")
ev = json.loads((out / "eval" / "evaluation.json").read_text())
print(f"evaluation: {ev['detections']} detections on {ev['images']} images, "
      f"inference {ev['inference_s_per_image']:.3f} s/image (image reading included)")
print("detectron2 R_50_FPN_s1x (model zoo, 8 V100, 16 images/iter): 0.359 s/iter, "
      "44.6 images/s, 0.066 s/image inference, 4.5 GB")
EOF
