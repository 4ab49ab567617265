#!/usr/bin/env bash
# The benchmark's gpu profile on a GPU machine that reaches no package registry and receives at most 64 MiB a
# run: two runs back to back on one warm machine (what run 1 installs lives in $STASH until it is given back).
#   run 1, carry .device/run1:  gpu_profile.sh install    wheels + ACDC archive A; GPU step-time measurements
#                               (without the archive: the step-time measurements alone, in one run)
#   run 2, carry .device/run2:  gpu_profile.sh benchmark  SimpleITK + archive B + reference NIfTIs; the profile
# benchmarks/device/prepare.sh fills both folders here. Results land in $OUT. Overrides: PYTHON, DEVICE, PROFILE,
# PARALLEL, TRAINERS, BUDGET_S, STEP_PRESETS, PROFILE_OPS, MINUTES (every trainer trains that many minutes, its epochs
# fitted to its speed, instead of the profile's iterations; e.g. MINUTES=3 PARALLEL=3 TRAINERS="nnUNetTrainer_AttenScribbleBudget
# AttenScribbleTrainer AttenScribbleTrainer_PlusSimilarity"). The CPU dry run: PYTHON=.venv/bin/python DEVICE=cpu PROFILE=smoke.
set -euo pipefail
verb=${1:?usage: gpu_profile.sh install|benchmark}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
STASH=${STASH:-${TMPDIR:-/tmp}/attenscribble_stash}
: "${OUT:?OUT must name the folder whose files come back}"
export PYTHONUNBUFFERED=1 nnUNet_compile=false nnUNet_extTrainer=$REPO/nnunet_attenscribble/nnunet_ext
export PYTHONPATH=$REPO:$STASH/simpleitk:$STASH/site${PYTHONPATH:+:$PYTHONPATH} PATH=$STASH/site/bin:$PATH

install_wheels() {  # install_wheels TARGET WHEEL...
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$1" "${@:2}"
}
unpack() { "$PY" "$REPO/benchmarks/device/acdc_pack.py" unpack "$1" "$STASH/data/acdc-scribble/volumes"; }

case $verb in
install)
  rm -rf "$STASH" && mkdir -p "$STASH/simpleitk/SimpleITK"
  # nnU-Net imports SimpleITK at start-up; step_time reads no image, so a stub serves until run 2 brings it
  echo 'def __getattr__(name): raise ImportError("SimpleITK arrives with run 2")' > "$STASH/simpleitk/SimpleITK/__init__.py"
  install_wheels "$STASH/site" "$REPO"/.device/run1/*.whl
  if [ -f "$REPO/.device/run1/acdc_a.pkl.xz" ]; then unpack "$REPO/.device/run1/acdc_a.pkl.xz"; fi
  for preset in ${STEP_PRESETS:-acdc-2d hippocampus-3d}; do
    "$PY" "$REPO/benchmarks/step_time.py" --preset "$preset" --device "$DEVICE" --warmup 5 --steps 15 \
      --profile-ops "${PROFILE_OPS:-0}" \
      --json "$OUT/step_time_${DEVICE}_$preset.json" 2>&1 | tee -a "$OUT/step_time.log" || echo "step_time $preset failed"
  done ;;
benchmark)
  [ -d "$STASH/site/nnunetv2" ] || { echo "nothing installed in $STASH: the machine went back after run 1; run install again" >&2; exit 3; }
  rm -rf "$STASH/simpleitk" && install_wheels "$STASH/simpleitk" "$REPO"/.device/run2/*.whl
  unpack "$REPO/.device/run2/acdc_b.pkl.xz"
  cp -r "$REPO/.device/run2/scribbles-nifti" "$STASH/data/acdc-scribble/"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 5 > "$OUT/gpu_usage.csv" &
  fi
  export nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-3} nnUNet_def_n_proc=${nnUNet_def_n_proc:-4}
  status=0
  # shellcheck disable=SC2086  # TRAINERS is a list
  timeout "${BUDGET_S:-480}" "$PY" "$REPO/benchmarks/scribble_benchmark.py" --profile "${PROFILE:-gpu}" --datasets acdc \
    --device "$DEVICE" --data-dir "$STASH/data" --work-dir "$STASH/work" --results-dir "$OUT/results" --parallel "${PARALLEL:-5}" \
    ${MINUTES:+--minutes "$MINUTES"} \
    --trainers ${TRAINERS:-nnUNetTrainer_AttenScribbleBudget AttenScribbleTrainer_PartialCEDice \
                AttenScribbleTrainer_PartialCEDice_CRF AttenScribbleTrainer AttenScribbleTrainer_PlusSimilarity} 2>&1 | tee "$OUT/benchmark.log" || status=$?
  # whatever finished comes back, also after a timeout: the run records (in $OUT/results), per-case metrics and logs
  [ -d "$STASH/work" ] && (cd "$STASH/work" && find . \( -name metrics_per_case.csv -o -name nnunet.log -o -name 'training_log_*.txt' \
     -o -name progress.png -o -name preprocessing.log \) -print0 | tar czf "$OUT/runs.tar.gz" --null -T -)
  exit "$status" ;;
*) echo "unknown verb $verb (install|benchmark)" >&2; exit 2 ;;
esac
