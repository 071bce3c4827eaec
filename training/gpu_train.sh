#!/usr/bin/env bash
# Continue the shipped symmetry network on one GPU for a few minutes: the motif families
# image, blobs, atoms, domains and stripes (`field` held out) at full corruption strength,
# 3-8 cells across the 96-pixel input. Stage 3 ran it with the defaults; stage 4 with
#   SEED=4 LR=1e-3 EXTRA_NOISE=0.3 TRAIN_MINUTES=8 (see training/README.md).
#
#   training/gpu_train.sh OUT_DIR [RUN_DIR]
#
# OUT_DIR receives at most 7 flat files: symmetry.pt (float16 checkpoint with its recipe
# and evaluation), metrics.json, log.jsonl, console.log, calibration.json, command.txt
# and confusion.png (when matplotlib is installed). RUN_DIR (default
# artifacts/symmetry-stage3) holds the resumable training state: running the same command
# again continues the run where it stopped, with the same number of steps.
#
# The number of steps is set from the pattern-generation rate measured first on this
# machine (generation on the CPU, not the GPU, limits the rate), so that the cosine
# schedule ends within the time limit; the time limit is a safety net: when it runs out,
# the run still evaluates and writes its checkpoint (--finish-at-time-limit).
#
# Settings can be changed through the environment: PYTHON (python3), WORKERS (15),
# BATCH (256), TRAIN_MINUTES (7), STEPS (measured), DEVICE (cuda), LR (1.5e-3), SEED (3),
# EXTRA_NOISE (0: share of patterns given heavy shot and read noise), INIT_FROM (the
# shipped weights), TEST_PER_GROUP (200) and VARIANT_PER_GROUP (100) evaluation images
# per group.
set -euo pipefail

OUT_DIR=${1:?usage: training/gpu_train.sh OUT_DIR [RUN_DIR]}
RUN_DIR=${2:-artifacts/symmetry-stage3}
PYTHON=${PYTHON:-python3}
WORKERS=${WORKERS:-15}
BATCH=${BATCH:-256}
VIEWS=2
TRAIN_MINUTES=${TRAIN_MINUTES:-7}
DEVICE=${DEVICE:-cuda}
LR=${LR:-1.5e-3}
SEED=${SEED:-3}
EXTRA_NOISE=${EXTRA_NOISE:-0}
INIT_FROM=${INIT_FROM:-symsim_widgets/weights/symmetry.pt}
TEST_PER_GROUP=${TEST_PER_GROUP:-200}
VARIANT_PER_GROUP=${VARIANT_PER_GROUP:-100}
SOURCES="image blobs atoms domains stripes"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# one thread per generating process: the workers are the parallelism (16 cores)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$OUT_DIR" "$RUN_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

collect() {
    # whatever happened, bring back what the run produced
    for f in symmetry.pt metrics.json log.jsonl confusion.png calibration.json command.txt; do
        if [ -f "$RUN_DIR/$f" ]; then cp "$RUN_DIR/$f" "$OUT_DIR/$f"; fi
    done
}
trap collect EXIT

exec > >(tee -a "$RUN_DIR/console.log" "$OUT_DIR/console.log") 2>&1
echo "== gpu_train $(date -u +%FT%TZ) on $(hostname): $(nproc --all) CPUs"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

# 1. steps: from the measured generation rate, fixed at the first run of RUN_DIR
if [ -z "${STEPS:-}" ] && [ -f "$RUN_DIR/calibration.json" ]; then
    STEPS=$("$PYTHON" -c "import json; print(json.load(open('$RUN_DIR/calibration.json'))['steps'])")
    echo "resuming with the $STEPS steps chosen at the first run"
fi
if [ -z "${STEPS:-}" ]; then
    "$PYTHON" - "$RUN_DIR/calibration.json" "$WORKERS" "$BATCH" "$VIEWS" "$TRAIN_MINUTES" \
        $SOURCES <<'EOF'
"""Measure how many training patterns WORKERS processes generate per second, and choose
the number of steps that the time limit allows (60 s kept for start-up and evaluation)."""
import json
import multiprocessing as mp
import sys
import time

import numpy as np

path = sys.argv[1]
workers, batch, views = (int(a) for a in sys.argv[2:5])
minutes = float(sys.argv[5])
sources = tuple(sys.argv[6:])


def generate(seed):
    from symsim_widgets.symmetry.generator import generate_batch

    t0, n = time.monotonic(), 0
    rng = np.random.default_rng([99, seed])
    while time.monotonic() - t0 < 20.0:
        generate_batch(16, 96, rng=rng, sources=sources, cells=(3.0, 8.0), min_cell_px=12.0,
                       corruption_strength=1.0)
        n += 16
    return n / (time.monotonic() - t0)


with mp.get_context("fork").Pool(workers) as pool:
    rates = pool.map(generate, range(workers))
patterns_per_s = float(sum(rates))
images_per_s = patterns_per_s * views
seconds = 60.0 * minutes - 60.0
steps = int(np.clip(images_per_s * seconds / batch, 200, 50_000))
record = {"workers": workers, "patterns_per_s": patterns_per_s,
          "patterns_per_s_per_worker": patterns_per_s / workers,
          "expected_images_per_s": images_per_s, "batch_size": batch, "views": views,
          "train_seconds": seconds, "steps": steps}
print(json.dumps(record))
json.dump(record, open(path, "w"), indent=1)
EOF
    STEPS=$("$PYTHON" -c "import json; print(json.load(open('$RUN_DIR/calibration.json'))['steps'])")
fi
WARMUP=$(( STEPS / 20 < 300 ? STEPS / 20 : 300 ))

# 2. train (resumes from RUN_DIR/train_state.pt when it exists), evaluate, checkpoint
CMD=("$PYTHON" -m symsim_widgets.cli train-symmetry --out "$RUN_DIR"
    --init-from "$INIT_FROM" --seed "$SEED" --steps "$STEPS" --extra-noise "$EXTRA_NOISE"
    --batch-size "$BATCH" --views "$VIEWS" --input-size 96 --width 32 --lr "$LR"
    --warmup "$WARMUP" --train-sources $SOURCES --cells 3 8 --min-cell-px 12
    --corruption-strength 1.0 --test-per-group "$TEST_PER_GROUP"
    --variant-per-group "$VARIANT_PER_GROUP" --eval-every 0
    --checkpoint-every 500 --log-every 100 --workers "$WORKERS" --device "$DEVICE"
    --time-limit "$TRAIN_MINUTES" --finish-at-time-limit)
printf '%q ' "${CMD[@]}" > "$RUN_DIR/command.txt"
echo >> "$RUN_DIR/command.txt"
echo "== $(cat "$RUN_DIR/command.txt")"
"${CMD[@]}"
echo "== done $(date -u +%FT%TZ)"
