#!/usr/bin/env bash
# One device call that measures everything issue 10 asks of a GPU, in about 7 minutes:
#   1. the side-by-side table against purejaxrl's ppo.py (1, 64, 1024 seeds x 5e5; 4096 x 1e5),
#   2. 4096 seeds x 5e5 steps of ours alone (the "under 35 s" target),
#   3. the stage breakdown at 1, 64 and 4096 seeds with the backend's tuning and each variant
#      of it (flat vs per-leaf optimizer, GAE unrolled or not, prng.UNROLLED keys or jax's),
#   4. one seed with XLA's command buffers (CUDA graphs) extended to loops,
#   5. actor and critic in one fused pass vs two (benchmarks/fused_heads.py; slower on the CPU).
#
# Prepare on the CPU machine first (no device time), from the repository root:
#   echo /.whl/ >> .git/info/exclude; echo /.peers/ >> .git/info/exclude
#   cp -r ../shared/peers .peers
#   for p in gymnax==1.0.1 distrax==0.1.9 tfp-nightly dm-tree gast decorator tyro \
#            docstring_parser typeguard gymnasium farama-notifications; do
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl "$p"; done
#   (pure-Python packages come as py3-none-any wheels; keep one version of each)
# Then: run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".peers"], timeout_s=540)
# Results land in $OUT (5 files). SMALL=1 runs a tiny version of every step (to test the script).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
source benchmarks/gpu_setup.sh
PEERS=${PEERS:-.peers}
if [ "${SMALL:-0}" = 1 ]; then
  TOTAL=2e4; BIG=2e4; SEEDS="1 4"; BIGSEEDS=8; STAGE_SEEDS="1 4"; REPEATS=3
else
  TOTAL=5e5; BIG=1e5; SEEDS="1 64 1024"; BIGSEEDS=4096; STAGE_SEEDS="1 64 4096"; REPEATS=20
fi
log="$OUT/log.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$log" 2>&1 || true
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" >>"$log" 2>&1

echo "== 1. side by side" | tee -a "$log"
{
  $PY "$PEERS/side_by_side.py" table --seeds $SEEDS --total $TOTAL
  $PY "$PEERS/side_by_side.py" table --seeds $BIGSEEDS --total $BIG
} >"$OUT/side_by_side.txt" 2>&1
tail -n 12 "$OUT/side_by_side.txt" | tee -a "$log"

echo "== 2. ours alone, $BIGSEEDS seeds x $TOTAL steps" | tee -a "$log"
$PY "$PEERS/side_by_side.py" ppo $BIGSEEDS $TOTAL 2>&1 | tail -n 1 | tee -a "$log"

echo "== 3. stages" | tee -a "$log"
for tuning in '' '{"flat_optimizer": true}' '{"gae_unroll": 1}' '{"unrolled_prng": true}'; do
  $PY benchmarks/stages.py --seeds $STAGE_SEEDS --repeats $REPEATS ${tuning:+--tuning "$tuning"} \
    --label "tuning ${tuning:-default}" --out /tmp/stages.md --json /tmp/stages.json >>"$log" 2>&1
  cat /tmp/stages.md >>"$OUT/stages.md"; echo >>"$OUT/stages.md"
  cat /tmp/stages.json >>"$OUT/stages.jsonl"
done
cat "$OUT/stages.md" | tee -a "$log"

echo "== 4. one seed with command buffers for loops" | tee -a "$log"
for flags in "" "--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL --xla_gpu_graph_min_graph_size=1"; do
  echo "XLA_FLAGS=$flags" | tee -a "$log"
  XLA_FLAGS="$flags" $PY "$PEERS/side_by_side.py" ppo 1 $TOTAL 2>&1 | tail -n 1 | tee -a "$log"
done

echo "== 5. fused actor-critic pass" | tee -a "$log"
$PY benchmarks/fused_heads.py --seeds $STAGE_SEEDS 2>&1 | tail -n 10 | tee -a "$log"
