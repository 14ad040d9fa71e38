#!/usr/bin/env bash
# Every kernel path on a CPU that has nothing above it, whatever CPU runs the suite:
#  - QSIM_MAX_ISA: an unknown value fails with a message naming it; a cap above the CPU warns
#    and runs the CPU's best path;
#  - under qemu-user (Debian qemu-user, which emulates no AVX-512), `-cpu Haswell` (AVX2 + FMA)
#    and `-cpu Nehalem` (SSE4.2, no AVX): qsim picks the avx2 and the baseline path from CPUID,
#    runs both reference models and quantizes one with AdaRound without an illegal instruction
#    (one would kill the process), and writes the same bytes as the same path capped natively;
#  - natively with CPUID masked to AVX2 (tools/cpuid_mask, where the CPU can fault on CPUID):
#    qsim picks the avx2 path, a cap of avx512 warns, and the outputs equal QSIM_MAX_ISA=avx2;
#  - natively, the avx2 and avx512 paths write the same bytes (docs/KERNEL_PATHS.md).
# OpenBLAS is pinned to one kernel per comparison (OPENBLAS_CORETYPE): its own choice is not
# qsim's, and its kernels round differently.
set -u
SRC=${QSIM_SOURCE_DIR:?}
BUILD=${QSIM_BUILD_DIR:?}
QSIM=$BUILD/src/qsim
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }

"$BUILD/samples/c/make_calib_npy" "$WORK/images.npy" 32 >/dev/null
MODELS=(resnet_fmnist mobilenet_fmnist)
# qemu warns about each CPUID feature of the model its TCG does not emulate (hle, rtm, ...).
# A CPUID mask the whole suite may run under (tools/cpuid_mask) is not for the emulated CPU:
# qemu-user has no CPUID faulting, and the CPU model is what it presents.
qemu() {
  env -u LD_PRELOAD -u QSIM_CPUID_MASK qemu-x86_64 "$@" \
    2> >(grep -v "TCG doesn't support requested feature" >&2)
}

# Runs the reference models and a short AdaRound into $1 (the command prefix follows).
run_all() {
  local out=$1
  shift
  mkdir -p "$out"
  for model in "${MODELS[@]}"; do
    "$@" "$QSIM" run "$SRC/models/$model.onnx" --input "$WORK/images.npy" --output "$out/$model" \
      >/dev/null || return 1
  done
  "$@" "$QSIM" quantize "$SRC/models/mobilenet_fmnist.onnx" --calib "$WORK/images.npy" \
    --per-channel --adaround --adaround-iterations 20 --adaround-samples 16 --threads 2 \
    --out "$out/quantized" >/dev/null 2>&1 || return 1
}

same_files() {
  local a=$1 b=$2
  for model in "${MODELS[@]}"; do
    for f in "$a/$model"/*.npy; do cmp -s "$f" "$b/$model/$(basename "$f")" || return 1; done
  done
  for f in "$a/quantized"/*; do cmp -s "$f" "$b/quantized/$(basename "$f")" || return 1; done
}

# --- QSIM_MAX_ISA on this CPU.
out=$(QSIM_MAX_ISA=avx3 "$QSIM" run "$SRC/models/resnet_fmnist.onnx" --input "$WORK/images.npy" \
      --output "$WORK/bad" 2>&1)
status=$?
if [ "$status" -eq 1 ] && grep -q "QSIM_MAX_ISA=avx3 is not a kernel path" <<<"$out" && [ ! -e "$WORK/bad" ]; then
  pass "an unknown QSIM_MAX_ISA fails with a message naming it"
else
  fail "QSIM_MAX_ISA=avx3: exit $status, '$out'"
fi
for path in baseline avx2; do
  if QSIM_MAX_ISA=$path "$QSIM" --version | grep -q "^kernels: $path "; then
    pass "QSIM_MAX_ISA=$path takes the $path path"
  else
    fail "QSIM_MAX_ISA=$path: $(QSIM_MAX_ISA=$path "$QSIM" --version)"
  fi
done

native_path=$("$QSIM" --version | sed -n 's/^kernels: \([a-z0-9]*\).*/\1/p')
echo "this CPU takes the $native_path path"

# --- The same path on a CPU that has only it (qemu) and capped here.
if ! command -v qemu-x86_64 >/dev/null; then
  echo "qemu-x86_64 is missing (Debian qemu-user; scripts/setup installs it): CPU models not checked"
else
  for pair in Haswell:avx2:Haswell Nehalem:baseline:Nehalem; do
    IFS=: read -r cpu path blas <<<"$pair"
    version=$(qemu -cpu "$cpu" "$QSIM" --version)
    if grep -q "^kernels: $path (CPU: $path)" <<<"$version"; then
      pass "qemu -cpu $cpu: CPUID gives the $path path"
    else
      fail "qemu -cpu $cpu: '$version'"
    fi
    if [ "$path" = avx2 ]; then
      capped=$(QSIM_MAX_ISA=avx512 qemu -cpu "$cpu" "$QSIM" run "$SRC/models/resnet_fmnist.onnx" \
               --input "$WORK/images.npy" --output "$WORK/capped" 2>&1)
      if [ $? -eq 0 ] && grep -q "asks for more than this CPU has (avx2); using avx2" <<<"$capped"; then
        pass "qemu -cpu $cpu: QSIM_MAX_ISA=avx512 warns and runs the avx2 path"
      else
        fail "qemu -cpu $cpu with QSIM_MAX_ISA=avx512: '$capped'"
      fi
    fi
    if OPENBLAS_CORETYPE="$blas" run_all "$WORK/qemu_$path" qemu -cpu "$cpu" &&
       run_all "$WORK/native_$path" env OPENBLAS_CORETYPE="$blas" QSIM_MAX_ISA="$path"; then
      if same_files "$WORK/qemu_$path" "$WORK/native_$path"; then
        pass "qemu -cpu $cpu: run and AdaRound write the bytes the $path path writes here"
      else
        fail "qemu -cpu $cpu: outputs differ from QSIM_MAX_ISA=$path here"
      fi
    else
      fail "qemu -cpu $cpu: a run or a quantize failed"
    fi
  done
fi

# --- A CPU that reports AVX2 and no AVX-512 at native speed: CPUID masked by the preloaded
# library (exit 3 from it: no CPUID faulting here).
MASK=$BUILD/tools/cpuid_mask/libqsim_cpuid_mask.so
masked() { LD_PRELOAD=$MASK QSIM_CPUID_MASK=avx2 "$@"; }
if ! masked true 2>/dev/null; then
  echo "this CPU or kernel cannot fault on CPUID: the CPUID mask is not checked"
elif [ "$native_path" = avx2 ] || [ "$native_path" = avx512 ]; then
  version=$(masked "$QSIM" --version)
  if grep -q "^kernels: avx2 (CPU: avx2)" <<<"$version"; then
    pass "CPUID masked to AVX2: the avx2 path"
  else
    fail "CPUID masked to AVX2: '$version'"
  fi
  capped=$(QSIM_MAX_ISA=avx512 masked "$QSIM" run "$SRC/models/resnet_fmnist.onnx" \
           --input "$WORK/images.npy" --output "$WORK/masked_capped" 2>&1)
  if [ $? -eq 0 ] && grep -q "asks for more than this CPU has (avx2); using avx2" <<<"$capped"; then
    pass "CPUID masked to AVX2: QSIM_MAX_ISA=avx512 warns and runs the avx2 path"
  else
    fail "CPUID masked to AVX2 with QSIM_MAX_ISA=avx512: '$capped'"
  fi
  if run_all "$WORK/masked" masked env OPENBLAS_CORETYPE=Haswell &&
     run_all "$WORK/capped_avx2" env OPENBLAS_CORETYPE=Haswell QSIM_MAX_ISA=avx2 &&
     same_files "$WORK/masked" "$WORK/capped_avx2"; then
    pass "CPUID masked to AVX2: the bytes of QSIM_MAX_ISA=avx2"
  else
    fail "CPUID masked to AVX2: outputs differ from QSIM_MAX_ISA=avx2 (or a run failed)"
  fi
fi

# --- avx2 and avx512 compute the same bits (both round each product-sum once, in one order).
if [ "$native_path" = avx512 ]; then
  if run_all "$WORK/avx512" env OPENBLAS_CORETYPE=Haswell QSIM_MAX_ISA=avx512 &&
     run_all "$WORK/avx2" env OPENBLAS_CORETYPE=Haswell QSIM_MAX_ISA=avx2 &&
     same_files "$WORK/avx512" "$WORK/avx2"; then
    pass "the avx512 and avx2 paths write the same bytes"
  else
    fail "the avx512 and avx2 paths write different bytes"
  fi
else
  echo "this CPU has no AVX-512: avx512 against avx2 not checked"
fi

echo "kernel paths: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
