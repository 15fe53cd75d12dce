#!/usr/bin/env bash
# The GPU checks, as one run on a lent H100/H200 (about 8 minutes): the CUDA tests, then the grid benchmark
# on cuda: each engine's seconds per point and the 40x40 grid for LeNet-5 (median of 3), then ResNet-50 (one
# run). Prepare with benchmarks/device_wheels.sh, then run this with carry [".whl"]. Logs go to $OUT.
set -uo pipefail
out=${OUT:-device-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, dask_cuda; print('torch', torch.__version__, 'dask-cuda', dask_cuda.__version__)" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_engine.py 2>&1 | tee "$out/tests.txt"
python3 benchmarks/grid.py --device cuda --techniques 2>&1 | tee "$out/techniques.txt"
python3 benchmarks/grid.py --device cuda --repeats 3 2>&1 | tee "$out/lenet.txt"
python3 benchmarks/grid.py --device cuda --model resnet50 --repeats 1 --naive-points 10 2>&1 | tee "$out/resnet50.txt"
