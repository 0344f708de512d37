#!/usr/bin/env bash
# The returns rows that need a GPU (issue 14), one environment per process, one after another
# (several processes sharing one GPU lost six minutes once), each under its own time limit so
# that one slow row cannot take the whole call. One part per device call, each within a 10-min
# call by its time limits (the earlier Breakout timing: 89 s per 16-seed 1e7 CNN run, H200):
#   PART=minatar      Asterix, Freeway, Seaquest with their CNN presets, and Breakout with the
#                     CNN (against purejaxrl's ~40): 4 rows x at most 120 s
#   PART=minatar-mlp  the same three games as MLPs: 3 rows x at most 120 s
#   PART=brax         brax:hopper and brax:ant (5e6 steps, 16 seeds): 2 rows x at most 240 s
#   PART=minatar-rest Breakout and SpaceInvaders as their presets are: with PART=minatar's
#                     three, the MinAtar aggregate row of BENCHMARKS.md:
#                     python benchmarks/aggregate_returns.py $OUT/row-*.json --envs \
#                       Asterix-MinAtar Breakout-MinAtar Freeway-MinAtar Seaquest-MinAtar \
#                       SpaceInvaders-MinAtar
#   PART=marl         jaxmarl:MPE_simple_spread_v3, SMAX-3m and SMAX-2s3z (win rate) at
#                     JaxMARL's IPPO settings, 1e7 steps, and overcooked-cramped_room (5e6,
#                     shaped reward annealed), 16 seeds: 4 rows x at most 180 s;
#                     needs the jaxmarl extra's wheels (jaxmarl, jaxtyping, safetensors,
#                     wadler_lindig) in .whl
#
# Prepare .whl as gpu_check.sh's header says; PART=brax also needs the brax extra's wheels
# (brax, mujoco, mujoco-mjx, trimesh, jaxopt, ml-collections, tensorboardX, flask, flask-cors,
# etils, ...: `pip download brax==0.14.2 -d .whl` for the image's Python, then drop what the
# image has). Then, e.g.:
#   run(command="PART=minatar bash benchmarks/gpu_returns.sh", carry=[".whl"], timeout_s=560)
# Rows land in $OUT/returns-PART.md (+ .json); copy them into BENCHMARKS.md with the device,
# and record them with `python benchmarks/returns.py --render ...` if wanted.
# SMALL=1 runs every row at a tiny budget (to test the script on the CPU).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_returns}
source benchmarks/gpu_setup.sh
PART=${PART:-minatar}
LIMIT=${LIMIT:-120}  # seconds per row
[ "$PART" = brax ] && LIMIT=${LIMIT_BRAX:-240}
[ "$PART" = marl ] && LIMIT=${LIMIT_MARL:-180}
SEEDS=16
SET=()
if [ "${SMALL:-0}" = 1 ]; then SEEDS=2; LIMIT=300; SET=(total_timesteps=16384); fi
log="$OUT/log-$PART.txt"
nvidia-smi --query-gpu=name,memory.total --format=csv >"$log" 2>&1 || true

row() {  # row NAME ENV_ID [FIELD=VALUE ...]: one returns row in its own process
  local name=$1 env_id=$2; shift 2
  local changes=("$@" "${SET[@]}")
  echo "== $name: $env_id ${changes[*]}" | tee -a "$log"
  timeout "$LIMIT" $PY benchmarks/returns.py --envs "$env_id" --seeds "$SEEDS" \
    ${changes[0]:+--set "${changes[@]}"} --out "$OUT/row-$name.md" >>"$log" 2>&1 \
    || echo "   (did not finish within ${LIMIT}s or failed; see $log)" | tee -a "$log"
  grep '^| [A-Za-z]' "$OUT/row-$name.md" 2>/dev/null | grep -v '^| environment' \
    | tee -a "$OUT/returns-$PART.md"
  rm -f "$OUT/row-$name.md"  # the .json stays: its per-run returns feed aggregate_returns.py
}

case "$PART" in
  minatar)
    for game in Asterix Freeway Seaquest; do row "$game-cnn" "$game-MinAtar"; done
    row breakout-cnn Breakout-MinAtar network=cnn
    ;;
  minatar-mlp)
    for game in Asterix Freeway Seaquest; do row "$game-mlp" "$game-MinAtar" network=mlp; done
    ;;
  minatar-rest)
    row breakout Breakout-MinAtar
    row spaceinvaders SpaceInvaders-MinAtar
    ;;
  brax)
    row hopper brax:hopper
    row ant brax:ant
    ;;
  marl)
    row mpe-spread jaxmarl:MPE_simple_spread_v3
    row smax-3m jaxmarl:SMAX-3m
    row smax-2s3z jaxmarl:SMAX-2s3z
    row overcooked-cramped jaxmarl:overcooked-cramped_room
    ;;
  *) echo "PART=$PART: use minatar, minatar-rest, minatar-mlp, brax or marl" >&2; exit 2 ;;
esac
echo "rows: $OUT/returns-$PART.md" | tee -a "$log"
