#!/usr/bin/env bash
# FaceFusion-v0 training throughput on one GPU node (issue target: >= 2,000 training env steps/s
# with --num-gpus-per-learner 1). Runs train.py with a GPU learner and 14 env runners x 8 envs
# for each setup below, then the bare-torch batch scaling on the GPU; writes each run's
# progress.csv (env steps, wall seconds and the driver's seconds per phase: sampling, replay,
# learner, weights_sync) and a summary to OUT.
#
#   bash benchmarks/gpu_node.sh OUT [FACES] [MINUTES] [SETUP ...]
#
# RUNNERS, ENVS and GPUS (environment, default 14, 8 and 1) size the run for another node;
# BARE_TORCH=1 adds bare torch per update at batch 64, 256 and 1024 on the GPU.
# SETUP names (default: ahead512 host512 ahead1024): ahead512 (batch 512; runners sample while the
# driver learns; replayed images kept on the learner's GPU: the defaults), host512 (the same with
# the replay buffer in host memory), sync512 (host replay and RLlib's sample-then-learn: the path
# before both changes), ahead1024 (as ahead512 at batch 1024). Batch and lr as
# README's "Batch size and learning rate with a GPU learner": lr scaled by sqrt(batch / 64).
set -euo pipefail
out=${1:?OUT folder}; faces=${2:-default}; minutes=${3:-1.3}; shift $(( $# < 3 ? $# : 3 ))
setups=("$@"); [ ${#setups[@]} -gt 0 ] || setups=(ahead512 host512 ahead1024)
runners=${RUNNERS:-14}; envs=${ENVS:-8}; gpus=${GPUS:-1}
mkdir -p "$out"; runs=$(mktemp -d)
config() {  # setup -> JSON merged over the preset
  case $1 in
    ahead512) echo '{"training": {"train_batch_size_per_learner": 512, "lr": 7e-4}}' ;;
    host512) echo '{"training": {"train_batch_size_per_learner": 512, "lr": 7e-4,
                   "replay_buffer_config": {"device": null}}}' ;;
    sync512) echo '{"training": {"train_batch_size_per_learner": 512, "lr": 7e-4, "sample_ahead": false,
                   "replay_buffer_config": {"device": null}}}' ;;
    ahead1024) echo '{"training": {"train_batch_size_per_learner": 1024, "lr": 1e-3}}' ;;
    *) echo "unknown setup $1 (ahead512, host512, sync512, ahead1024)" >&2; return 2 ;;
  esac
}
for setup in "${setups[@]}"; do
  config "$setup" > "$runs/$setup.json"
  echo "== $setup: $(tr -s ' \n' ' ' < "$runs/$setup.json")"
  python3 train.py --env FaceFusion-v0 --faces "$faces" --num-gpus-per-learner "$gpus" --num-env-runners "$runners" \
    --envs-per-runner "$envs" --config "$runs/$setup.json" --stop-minutes "$minutes" --run-dir "$runs/$setup" \
    --no-progress --eval-episodes 0 --checkpoint-every 0 2>&1 | grep -v -i "warn" | tail -4 || true
  cp "$runs/$setup/progress.csv" "$out/${setup}_progress.csv" || true
done
python3 - "$out" "${setups[@]}" <<'PY' | tee "$out/summary.txt"
import csv, sys
from agents.fast_dqn import PHASES as phases  # run from the project root
out, setups = sys.argv[1], sys.argv[2:]
for setup in setups:
    try:
        rows = list(csv.DictReader(open(f"{out}/{setup}_progress.csv")))
    except OSError:
        print(setup, "no progress.csv"); continue
    first, last = rows[0], rows[-1]
    steps = int(last["env_steps"]) - int(first["env_steps"])
    wall = float(last["wall_seconds"]) - float(first["wall_seconds"])
    spent = {p: sum(float(r[f"time_{p}_s"] or 0) for r in rows[1:]) for p in phases}
    val = [r["val_success_rate"] for r in rows if r.get("val_success_rate")]
    print(f"{setup}: iterations 2-{len(rows)}: {steps} env steps in {wall:.1f} s = {steps / wall:.0f} env steps/s;"
          f" driver seconds {', '.join(f'{p} {s:.1f}' for p, s in spent.items())};"
          f" training steps alone {steps / max(sum(spent.values()), 1e-9):.0f} env steps/s; validation {val}")
PY
# bare torch at batch 64, 256, 1024 (the env's faces: point RLFF_CACHE_DIR at a prepared cache)
[ -n "${BARE_TORCH:-}" ] && python3 benchmarks/training_throughput.py --sections batch --num-gpus-per-learner "$gpus" \
  --out "$out/gpu_batch.json" 2>&1 | grep -v -i warn | tail -5 || true
