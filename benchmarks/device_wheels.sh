#!/usr/bin/env bash
# Run here, before benchmarks/device_check.sh goes to a lent GPU machine: that machine has torch but no
# registry, so the packages topograph needs beside it travel as wheels in .whl/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qsx '/.whl/' "$exclude" || echo /.whl/ >> "$exclude"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
  jsonschema==4.26.0 referencing==0.37.0 rpds-py==2026.9.1 jsonschema-specifications==2025.9.1 \
  dask==2026.7.1 distributed==2026.7.1 partd==1.4.2 locket==1.0.0 tblib==3.2.2 tornado==6.6.1 zict==3.0.0 \
  dask-cuda==26.10.0 rapids-dask-dependency==26.10.0
du -sh .whl
