#!/usr/bin/env bash
# The GPU checks, as one run on a lent H100/H200 (about 8 minutes): the CUDA tests, the 40x40 grid for LeNet-5
# (median of 3) and ResNet-50 (one run) on cuda, then each engine's seconds per point for both, and ResNet-50's
# in fp32, bf16 and tf32 (precision). Each step has
# its own time limit, so a slow one cannot hide the others. Prepare with benchmarks/device_wheels.sh, then run
# this with carry [".whl"]. Logs go to $OUT.
set -uo pipefail
out=${OUT:-device-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
step() { local limit=$1 log=$2; shift 2; echo "== $*" | tee "$out/$log"; timeout "$limit" "$@" 2>&1 | tee -a "$out/$log"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, dask_cuda; print('torch', torch.__version__, 'dask-cuda', dask_cuda.__version__)" | tee -a "$out/gpu.txt"
step 60 tests.txt python3 -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_evaluate.py tests/test_precision.py -k "cuda or gpu"
step 90 lenet.txt python3 benchmarks/grid.py --device cuda --repeats 3 --log
step 420 resnet50.txt python3 benchmarks/grid.py --device cuda --model resnet50 --repeats 1 --naive-points 10 --log
step 30 techniques.txt python3 benchmarks/grid.py --device cuda --techniques
step 60 techniques-resnet50.txt python3 benchmarks/grid.py --device cuda --model resnet50 --techniques --naive-points 4 --repeats 1
step 60 precision.txt python3 benchmarks/precision.py --device cuda --models resnet50 --samples 2048 --precisions fp32 bf16 tf32
