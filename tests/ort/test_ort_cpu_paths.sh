#!/usr/bin/env bash
# QuantSim against ONNX Runtime's other x86 kernel paths, reached with qemu-user on any x86-64
# CPU: `-cpu Haswell` (AVX2 without VNNI: u8 x s8 pair sums saturate to int16) with
# --emulate ort-avx2, and `-cpu Nehalem` (SSE4.1: exact sums) with exact arithmetic. Each run
# requires top-1 agreement and logits within one output step >= 99.9 % on the first 1000 test
# images of both reference models (qsim_sim_vs_ort). Also checks that the CPUID test of the
# tools picks those arithmetics for those CPUs. Where the CPU can fault on CPUID, also runs
# ONNX Runtime natively with CPUID masked to AVX2 (tools/cpuid_mask), judged in the arithmetic
# the tools read from the masked CPUID. W8A16 runs on the AVX2 paths too. Skips (exit 77) when qemu-x86_64 is missing.
# Usage: test_ort_cpu_paths.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
models=("$source/models/resnet_fmnist.onnx" "$source/models/mobilenet_fmnist.onnx")
mask=$build/tools/cpuid_mask/libqsim_cpuid_mask.so
if LD_PRELOAD=$mask QSIM_CPUID_MASK=avx2 true 2>/dev/null; then
  "$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
    --ort-cpu cpuid:avx2 | tee "${TMPDIR:-/tmp}/ort_cpuid_$$.txt"
  # W8A16: ONNX Runtime's float AVX2 kernels between 16-bit Q/DQ.
  "$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
    --ort-cpu cpuid:avx2 --act-bits 16
  grep -q "judged in arithmetic ort-avx2" "${TMPDIR:-/tmp}/ort_cpuid_$$.txt" ||
    { echo "FAIL: CPUID masked to AVX2 was not judged as ort-avx2"; exit 1; }
  rm -f "${TMPDIR:-/tmp}/ort_cpuid_$$.txt"
else
  echo "this CPU or kernel cannot fault on CPUID: ONNX Runtime not run with CPUID masked"
fi
if ! command -v qemu-x86_64 >/dev/null 2>&1; then
  echo "SKIPPED: qemu-x86_64 is not installed (Debian package qemu-user, which scripts/setup" \
       "installs), so ONNX Runtime's AVX2 and SSE4.1 kernel paths cannot be reached"
  exit 77
fi
cpu_path=$build/tools/compare/qsim_ort_cpu_path
for expect in Haswell=ort-avx2 Nehalem=exact; do
  cpu=${expect%=*}
  got=$(env -u LD_PRELOAD -u QSIM_CPUID_MASK qemu-x86_64 -cpu "$cpu" "$cpu_path" 2>/dev/null)
  if [ "$got" != "${expect#*=}" ]; then
    echo "FAIL: qemu -cpu $cpu: CPUID says '$got', expected '${expect#*=}'"
    exit 1
  fi
  echo "qemu -cpu $cpu: ONNX Runtime's kernels compute $got sums"
done
"$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
  --ort-cpu Haswell --emulate ort-avx2
"$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
  --ort-cpu Nehalem --emulate exact
# W8A16 on ONNX Runtime's AVX2 float kernels (16-bit activations have no integer kernels).
"$build/tools/compare/qsim_sim_vs_ort" "${models[@]}" --images 1000 --threads 2 \
  --ort-cpu Haswell --act-bits 16
