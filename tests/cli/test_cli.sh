#!/usr/bin/env bash
# The qsim CLI on good and bad input: every failure exits non-zero with one line on stderr
# that names the problem, and the process never aborts.
set -u
SRC=${QSIM_SOURCE_DIR:?}
QSIM=${QSIM_BUILD_DIR:?}/src/qsim
PY=/usr/bin/python3
NODE_TESTS=/usr/share/libonnx-testdata/data/node
MODEL=$SRC/models/resnet_fmnist.onnx
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect_fail PATTERN CMD...: non-zero exit (not a crash), one stderr line matching PATTERN.
expect_fail() {
  local pattern=$1; shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  local lines; lines=$(wc -l <"$WORK/err")
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then bad "exit $rc for: $*"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$lines stderr lines for: $* :: $(cat "$WORK/err")"; return; fi
  if ! grep -q -- "$pattern" "$WORK/err"; then bad "message '$(cat "$WORK/err")' lacks '$pattern' for: $*"; return; fi
  ok
}

expect_ok() {
  if "$@" >"$WORK/out" 2>"$WORK/err"; then ok; else bad "exit $? for: $* :: $(cat "$WORK/err")"; fi
}

npy() { $PY -c "import numpy as np, sys; $1" ; }

# --- info
expect_ok "$QSIM" info "$MODEL"
grep -q "Conv:" "$WORK/out" && grep -q "unsupported ops: none" "$WORK/out" && grep -q "parameters:" "$WORK/out" && ok || bad "info output: $(cat "$WORK/out")"
expect_ok "$QSIM" info --json "$MODEL"
$PY -c "import json,sys; d=json.load(open('$WORK/out')); assert d['ops']['Conv'] > 0 and d['unsupported_ops'] == {}" && ok || bad "info --json is not valid JSON"
expect_ok "$QSIM" info "$NODE_TESTS/test_erf/model.onnx"
grep -q "Erf (first at node" "$WORK/out" && ok || bad "info does not list the unsupported op Erf"

# --- bad models
head -c 3000 "$MODEL" >"$WORK/truncated.onnx"
expect_fail "truncated.onnx" "$QSIM" info "$WORK/truncated.onnx"
head -c 5000 /dev/urandom >"$WORK/random.onnx"
expect_fail "random.onnx" "$QSIM" info "$WORK/random.onnx"
expect_fail "no-such-model.onnx" "$QSIM" info "$WORK/no-such-model.onnx"

# --- run: good input
npy "np.save('$WORK/x1.npy', np.random.default_rng(0).random((1,1,28,28), dtype=np.float32))"
expect_ok "$QSIM" run "$MODEL" --input "$WORK/x1.npy" --output "$WORK/out1"
[ -f "$WORK/out1/logits.npy" ] && ok || bad "run wrote no logits.npy: $(ls "$WORK/out1")"
expect_ok "$QSIM" run "$MODEL" --input "input=$WORK/x1.npy" --output "$WORK/out2" --threads 2
cmp -s "$WORK/out1/logits.npy" "$WORK/out2/logits.npy" && ok || bad "1 and 2 threads differ"

# --- run: bad input
expect_fail "unsupported ops: Erf" "$QSIM" run "$NODE_TESTS/test_erf/model.onnx" --input "$WORK/x1.npy" --output "$WORK/o"
npy "np.save('$WORK/x_wrong.npy', np.zeros((1,1,27,28), dtype=np.float32))"
expect_fail "\[1,1,27,28\]" "$QSIM" run "$MODEL" --input "$WORK/x_wrong.npy" --output "$WORK/o"
npy "x=np.full((2,1,28,28), np.nan, dtype=np.float32); np.save('$WORK/x_nan.npy', x)"
expect_ok "$QSIM" run "$MODEL" --input "$WORK/x_nan.npy" --output "$WORK/o_nan"
npy "import math; y=np.load('$WORK/o_nan/logits.npy'); assert y.shape==(2,10) and np.isnan(y).all()" && ok || bad "NaN did not propagate"
expect_fail "missing.npy" "$QSIM" run "$MODEL" --input "$WORK/missing.npy" --output "$WORK/o"
printf 'not a numpy file' >"$WORK/junk.npy"
expect_fail "junk.npy.*bad magic" "$QSIM" run "$MODEL" --input "$WORK/junk.npy" --output "$WORK/o"
npy "np.save('$WORK/x_f.npy', np.asfortranarray(np.arange(784, dtype=np.float32).reshape(28, 28)))"
expect_fail "Fortran" "$QSIM" run "$MODEL" --input "$WORK/x_f.npy" --output "$WORK/o"
head -c 200 "$WORK/x1.npy" >"$WORK/x_trunc.npy"
expect_fail "truncated" "$QSIM" run "$MODEL" --input "$WORK/x_trunc.npy" --output "$WORK/o"
npy "np.save('$WORK/x_f64.npy', np.zeros((1,1,28,28)))"
expect_fail "<f8" "$QSIM" run "$MODEL" --input "$WORK/x_f64.npy" --output "$WORK/o"
expect_fail "no input named 'nope'" "$QSIM" run "$MODEL" --input "nope=$WORK/x1.npy" --output "$WORK/o"
expect_fail "cannot" "$QSIM" run "$MODEL" --input "$WORK/x1.npy" --output /proc/qsim-cannot-write
expect_fail "--threads" "$QSIM" run "$MODEL" --input "$WORK/x1.npy" --output "$WORK/o" --threads zero
expect_fail "unknown command" "$QSIM" frobnicate

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
