#!/usr/bin/env bash
# QuantSim against ONNX Runtime's other x86 kernel paths, reached with qemu-user on any x86-64
# CPU: `-cpu Haswell` (AVX2 without VNNI: u8 x s8 pair sums saturate to int16) with
# --emulate ort-avx2, and `-cpu Nehalem` (SSE4.1: exact sums) with exact arithmetic. Each run
# requires top-1 agreement and logits within one output step >= 99.9 % on the first 1000 test
# images of both reference models (qsim_sim_vs_ort). Also checks that the CPUID test of the
# tools picks those arithmetics for those CPUs. Skips (exit 77) when qemu-x86_64 is missing.
# Usage: test_ort_cpu_paths.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
if ! command -v qemu-x86_64 >/dev/null 2>&1; then
  echo "SKIPPED: qemu-x86_64 is not installed (Debian package qemu-user, which scripts/setup" \
       "installs), so ONNX Runtime's AVX2 and SSE4.1 kernel paths cannot be reached"
  exit 77
fi
cpu_path=$build/tools/compare/qsim_ort_cpu_path
for expect in Haswell=ort-avx2 Nehalem=exact; do
  cpu=${expect%=*}
  got=$(qemu-x86_64 -cpu "$cpu" "$cpu_path" 2>/dev/null)
  if [ "$got" != "${expect#*=}" ]; then
    echo "FAIL: qemu -cpu $cpu: CPUID says '$got', expected '${expect#*=}'"
    exit 1
  fi
  echo "qemu -cpu $cpu: ONNX Runtime's kernels compute $got sums"
done
models=("$source/models/resnet_fmnist.onnx" "$source/models/mobilenet_fmnist.onnx")
"$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
  --ort-cpu Haswell --emulate ort-avx2
"$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
  --ort-cpu Nehalem --emulate exact
