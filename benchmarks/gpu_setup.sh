# Sourced by the device scripts (gpu_check.sh, gpu_returns.sh): installs the carried wheels
# (.whl/*.whl, if any) into /tmp/site, puts them and the checkout on PYTHONPATH, creates $OUT and
# sets PY. See gpu_check.sh's header for how to prepare .whl on the CPU machine.
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
