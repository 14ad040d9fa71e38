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
expect_ok "$QSIM" info "$NODE_TESTS/test_sinh/model.onnx"
grep -q "Sinh (first at node" "$WORK/out" && ok || bad "info does not list the unsupported op Sinh"

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
expect_fail "unsupported ops: Sinh" "$QSIM" run "$NODE_TESTS/test_sinh/model.onnx" --input "$WORK/x1.npy" --output "$WORK/o"
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

# --- quantize: calibration data from Fashion-MNIST, exports, the simulation from each file
fmnist() { npy "import gzip; b = gzip.open('/usr/share/datasets/fashion-mnist/$1-images-idx3-ubyte.gz').read(); x = np.frombuffer(b, np.uint8, offset=16).reshape(-1, 1, 28, 28)[$2].astype(np.float32) / 255; $3"; }
fmnist train ":300" "np.save('$WORK/calib.npy', x)"
fmnist t10k ":16" "np.save('$WORK/eval.npy', x)"
EXPORTS="encodings.fbs encodings.json encodings.v1.json onnx qdq.onnx"
all_exported() { for f in $EXPORTS; do [ -s "$1/$2.$f" ] || return 1; done; [ "$(ls -A "$1" | wc -l)" -eq 5 ]; }

expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q1"
all_exported "$WORK/q1" resnet_fmnist && ok || bad "quantize did not write the 5 files: $(ls -A "$WORK/q1")"
grep -q "calibrated on 300 samples in 5 batches" "$WORK/out" && ok || bad "quantize summary: $(cat "$WORK/out")"
grep -q "^techniques applied, in order: bn_fold (9 entries)$" "$WORK/out" && ok || bad "quantize does not list the techniques: $(cat "$WORK/out")"
# Quiet when stderr is no terminal, but for the layers ONNX Runtime's AVX2 kernels may saturate.
! grep -v "^qsim: warning: .* u8 x s8 pair sums can reach " "$WORK/err" && ok ||
  bad "quantize is not quiet when stderr is no terminal: $(cat "$WORK/err")"
grep -q "^qsim: warning: Conv '/stem/stem.0/Conv': u8 x s8 pair sums can reach \(-[0-9]* < -32768\|[0-9]* > 32767\) on ONNX Runtime's AVX2 kernels without VNNI (--target ort-avx2 avoids it, --emulate ort-avx2 predicts it)$" "$WORK/err" &&
  ok || bad "no saturation warning for the stem: $(cat "$WORK/err")"
# An opset-9 model (Clip with attribute bounds): the QDQ export raises it to 13, rewriting the
# Clips, and says so; every file is written.
OLD="$SRC/models/mobilenet_fmnist_opset9.onnx"
expect_ok "$QSIM" quantize "$OLD" --calib "$WORK/calib.npy" --out "$WORK/q_opset9" --per-channel
all_exported "$WORK/q_opset9" mobilenet_fmnist_opset9 && ok || bad "opset-9 quantize: $(ls -A "$WORK/q_opset9")"
grep -q "the opset was raised from 9 to 13 for per-axis DequantizeLinear; 10 node(s) rewritten" "$WORK/err" &&
  grep -q "Clip '/Clip' (opset 11: min and max became inputs)" "$WORK/err" && ok ||
  bad "no opset-raise note: $(cat "$WORK/err")"
# Opsets outside 7..21 are refused naming the file and the range.
expect_fail "test_hardsigmoid/model.onnx.*opset 6; qsim supports opsets 7 to 21" "$QSIM" info "$NODE_TESTS/test_hardsigmoid/model.onnx"
$PY -c "
import onnx
from onnx import helper, TensorProto
g = helper.make_graph([helper.make_node('Relu', ['x'], ['y'])], 'g',
                      [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])],
                      [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 22)])
m.ir_version = 10
onnx.save(m, '$WORK/opset22.onnx')"
expect_fail "opset22.onnx.*opset 22; qsim supports opsets 7 to 21" "$QSIM" info "$WORK/opset22.onnx"
# An op the upgrade cannot take to opset 13 (Resize's tf_half_pixel_for_nn, gone at 13): qsim
# runs and calibrates the opset-11 model, skips the QDQ model naming the node and the reason,
# writes the other four files and exits 3.
$PY -c "
import numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.linspace(-1, 1, 18, dtype=np.float32).reshape(2, 1, 3, 3), 'w')
scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), 'scales')
roi = numpy_helper.from_array(np.zeros(0, np.float32), 'roi')
g = helper.make_graph(
    [helper.make_node('Conv', ['x', 'w'], ['c'], name='conv', pads=[1, 1, 1, 1]),
     helper.make_node('Resize', ['c', 'roi', 'scales'], ['y'], name='up', mode='nearest',
                      coordinate_transformation_mode='tf_half_pixel_for_nn')],
    'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['n', 1, 4, 4])],
    [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['n', 2, 8, 8])], [w, scales, roi])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 11)]), '$WORK/resize11.onnx')
np.save('$WORK/resize11_calib.npy', np.random.default_rng(0).random((16, 1, 4, 4), dtype=np.float32))"
"$QSIM" quantize "$WORK/resize11.onnx" --calib "$WORK/resize11_calib.npy" --out "$WORK/q_resize11" >"$WORK/out" 2>"$WORK/err"
rc=$?
[ "$rc" -eq 3 ] && ok || bad "quantize with an op the upgrade refuses exited $rc, not 3: $(cat "$WORK/err")"
grep -q "warning: export: skipped resize11.qdq.onnx (ONNX QDQ model): .*Resize 'up'.*tf_half_pixel_for_nn" "$WORK/err" &&
  ok || bad "the skipped QDQ model's warning does not name the Resize node and why: $(cat "$WORK/err")"
[ "$(ls "$WORK/q_resize11" | tr '\n' ' ')" = "resize11.encodings.fbs resize11.encodings.json resize11.encodings.v1.json resize11.onnx " ] &&
  ok || bad "an export with the QDQ model skipped wrote: $(ls -A "$WORK/q_resize11")"
script -qec "'$QSIM' quantize '$MODEL' --calib '$WORK/calib.npy' --out '$WORK/q_tty' --batch-size 100" /dev/null >"$WORK/tty" 2>&1
grep -q "calibrating \[#*\] 3/3 batches" "$WORK/tty" && ok || bad "no progress bar on a terminal: $(cat "$WORK/tty")"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q2" --per-channel \
  --calib-method mse --weight-method mse --weight-bits 4 --act-bits 8 --batch-size 7 --threads 2
all_exported "$WORK/q2" resnet_fmnist && ok || bad "per-channel W4 quantize: $(ls -A "$WORK/q2")"
grep -q '"bitwidth": 4' "$WORK/q2/resnet_fmnist.encodings.json" && ok || bad "--weight-bits 4 did not reach the encodings"
# --act-bits 16 (W8A16): bw 16 in both AIMET JSON versions; the QDQ model's 16-bit Q/DQ are
# com.microsoft ops at the model's opset, or standard ones at opset 21 with --qdq-16bit opset21.
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q16" --per-channel --act-bits 16
all_exported "$WORK/q16" resnet_fmnist && ok || bad "W8A16 quantize: $(ls -A "$WORK/q16")"
npy "import json; d = json.load(open('$WORK/q16/resnet_fmnist.encodings.json')); assert {e['bitwidth'] for v in d['activation_encodings'].values() for e in v} == {16}; assert {e['bitwidth'] for v in d['param_encodings'].values() for e in v} <= {8, 32}; v1 = json.load(open('$WORK/q16/resnet_fmnist.encodings.v1.json')); assert {e['bw'] for e in v1['activation_encodings']} == {16} and v1['quantizer_args']['activation_bitwidth'] == 16" &&
  ok || bad "--act-bits 16 did not reach the AIMET JSON encodings"
grep -aq 'com.microsoft' "$WORK/q16/resnet_fmnist.qdq.onnx" && ok || bad "the W8A16 QDQ model has no com.microsoft Q/DQ"
expect_ok "$QSIM" run "$MODEL" --encodings "$WORK/q16/resnet_fmnist.encodings.fbs" --input "$WORK/eval.npy" --output "$WORK/r16"
expect_ok "$QSIM" run "$WORK/q16/resnet_fmnist.qdq.onnx" --input "$WORK/eval.npy" --output "$WORK/r16_qdq"
npy "a = np.load('$WORK/r16/logits.npy'); b = np.load('$WORK/r16_qdq/logits.npy'); assert (a.argmax(1) == b.argmax(1)).all() and np.abs(a - b).max() < 0.01" &&
  ok || bad "the W8A16 QDQ model and the W8A16 simulation differ"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q16_21" --act-bits 16 --qdq-16bit opset21
! grep -aq 'com.microsoft' "$WORK/q16_21/resnet_fmnist.qdq.onnx" && ok || bad "--qdq-16bit opset21 wrote com.microsoft ops"
expect_ok "$QSIM" run "$WORK/q16_21/resnet_fmnist.qdq.onnx" --input "$WORK/eval.npy" --output "$WORK/r16_21"
expect_fail "--qdq-16bit: 'opset20' is neither microsoft nor opset21" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_bad" --act-bits 16 --qdq-16bit opset20
# 12-bit activations: the encodings carry them, the QDQ model cannot (a uint16 QuantizeLinear
# saturates at 65535, not 4095): the other four files are written, the QDQ model is skipped
# with a warning naming it and why, and the exit status is 3.
"$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q12" --act-bits 12 >"$WORK/out" 2>"$WORK/err"
rc=$?
[ "$rc" -eq 3 ] && ok || bad "a 12-bit quantize with the QDQ model skipped exited $rc, not 3"
grep -q "warning: export: skipped resnet_fmnist.qdq.onnx (ONNX QDQ model): activation encoding 'input': QDQ export needs 8- or 16-bit activations.*12-bit" "$WORK/err" &&
  ok || bad "no warning naming the skipped QDQ model: $(cat "$WORK/err")"
grep -q "wrote $WORK/q12/resnet_fmnist.\* (encodings.fbs, encodings.json, encodings.v1.json, onnx)$" "$WORK/out" &&
  ok || bad "the summary does not list the four files written: $(cat "$WORK/out")"
[ "$(ls "$WORK/q12" | tr '\n' ' ')" = "resnet_fmnist.encodings.fbs resnet_fmnist.encodings.json resnet_fmnist.encodings.v1.json resnet_fmnist.onnx " ] &&
  ok || bad "a 12-bit export wrote: $(ls -A "$WORK/q12")"
for f in encodings.fbs encodings.json encodings.v1.json; do
  expect_ok "$QSIM" run "$MODEL" --encodings "$WORK/q1/resnet_fmnist.$f" --input "$WORK/eval.npy" --output "$WORK/r_$f"
done
expect_ok "$QSIM" run "$MODEL" --input "$WORK/eval.npy" --output "$WORK/r_float"
# --emulate: exact is the default; ort-avx2 saturates some pair sums and moves some logits.
expect_ok "$QSIM" run "$MODEL" --encodings "$WORK/q1/resnet_fmnist.encodings.fbs" --input "$WORK/eval.npy" --output "$WORK/r_exact" --emulate exact
expect_ok "$QSIM" run "$MODEL" --encodings "$WORK/q1/resnet_fmnist.encodings.fbs" --input "$WORK/eval.npy" --output "$WORK/r_avx2" --emulate ort-avx2
cmp -s "$WORK/r_exact/logits.npy" "$WORK/r_encodings.fbs/logits.npy" && ok || bad "--emulate exact is not the default"
! cmp -s "$WORK/r_avx2/logits.npy" "$WORK/r_exact/logits.npy" && ok || bad "--emulate ort-avx2 changed nothing"
expect_fail "unknown target 'avx2' (valid: exact, ort-avx2)" "$QSIM" run "$MODEL" --encodings "$WORK/q1/resnet_fmnist.encodings.fbs" --input "$WORK/eval.npy" --output "$WORK/o" --emulate avx2
expect_fail "--emulate needs --encodings" "$QSIM" run "$MODEL" --input "$WORK/eval.npy" --output "$WORK/o" --emulate ort-avx2
cmp -s "$WORK/r_encodings.fbs/logits.npy" "$WORK/r_encodings.json/logits.npy" &&
  cmp -s "$WORK/r_encodings.fbs/logits.npy" "$WORK/r_encodings.v1.json/logits.npy" && ok ||
  bad "the three encodings files simulate differently"
npy "a = np.load('$WORK/r_float/logits.npy'); b = np.load('$WORK/r_encodings.fbs/logits.npy'); assert not np.array_equal(a, b) and (a.argmax(1) == b.argmax(1)).mean() >= 0.9" &&
  ok || bad "the simulation is not close to float, or is float"
fmnist train ":50" "x[3, 0, 5, 5] = np.nan; np.save('$WORK/calib_nan.npy', x)"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib_nan.npy" --out "$WORK/q_nan" --exclude-nan --calib-method minmax
grep -q "note: calibration: tensor 'input' held 1 NaN/Inf" "$WORK/err" && ok || bad "excluded NaN not reported: $(cat "$WORK/err")"
cat >"$WORK/lstm.json" <<'JSON'
{"defaults": {"ops": {"is_output_quantized": "True"}, "params": {"is_quantized": "True"}},
 "params": {}, "op_type": {"LSTM": {"is_output_quantized": "False"}}, "supergroups": [],
 "model_input": {"is_input_quantized": "True"}, "model_output": {}}
JSON
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_lstm" --config "$WORK/lstm.json"
grep -q "note: .*LSTM" "$WORK/err" && ok || bad "a config op the model lacks is not reported: $(cat "$WORK/err")"
expect_ok "$QSIM" run "$MODEL" --encodings "$WORK/q_lstm/resnet_fmnist.encodings.json" --config "$WORK/lstm.json" --input "$WORK/eval.npy" --output "$WORK/r_lstm"

# --- quantize --target: ort-avx2's weight grids, recorded in every export; bad names
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_avx2" --per-channel --target ort-avx2
all_exported "$WORK/q_avx2" resnet_fmnist && ok || bad "--target ort-avx2 did not write the 5 files: $(ls -A "$WORK/q_avx2")"
for f in encodings.json encodings.v1.json; do
  grep -q '"target": "ort-avx2"' "$WORK/q_avx2/resnet_fmnist.$f" && ok || bad "$f does not record --target ort-avx2"
done
grep -q '"target": "exact"' "$WORK/q1/resnet_fmnist.encodings.json" && ok || bad "the default export does not record the exact target"
grep -aq 'qsim.target' "$WORK/q_avx2/resnet_fmnist.qdq.onnx" && grep -aq 'ort-avx2' "$WORK/q_avx2/resnet_fmnist.qdq.onnx" &&
  ok || bad "the QDQ model does not record --target ort-avx2"
# Both ONNX exports name the techniques applied (BN folding, by default).
for f in onnx qdq.onnx; do
  grep -aq 'qsim.techniques' "$WORK/q1/resnet_fmnist.$f" && grep -aq 'bn_fold' "$WORK/q1/resnet_fmnist.$f" &&
    ok || bad "resnet_fmnist.$f does not record the techniques applied"
done
# Every ResNet weight feeds a Conv or Gemm that ONNX Runtime runs on its U8S8 kernels: 7 bits.
npy "import json; d = json.load(open('$WORK/q_avx2/resnet_fmnist.encodings.v1.json')); w = [p['bw'] for p in d['param_encodings']]; sys.exit(0 if w and set(w) == {7} else 1)" &&
  ok || bad "--target ort-avx2 did not put the ResNet's weights on 7-bit grids"
expect_ok "$QSIM" run "$MODEL" --encodings "$WORK/q_avx2/resnet_fmnist.encodings.fbs" --input "$WORK/eval.npy" --output "$WORK/r_avx2"
expect_fail "--target: unknown target 'avx2' (valid: exact, ort-avx2)" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --target avx2 --out "$WORK/x"
expect_fail "--target needs a value" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --target
[ ! -e "$WORK/x" ] && ok || bad "a rejected --target left output behind"

# --- quantize and run --encodings: bad input, and no partial output
expect_fail "no --calib" "$QSIM" quantize "$MODEL" --out "$WORK/x"
# Cross-layer equalization after BN folding, recorded in order in the encodings and the models.
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_cle" --cle --cle-steps 3
grep -q '"name": "bn_fold".*' "$WORK/q_cle/resnet_fmnist.encodings.json" && grep -q '"name": "cle"' "$WORK/q_cle/resnet_fmnist.encodings.json" &&
  grep -aq 'bn_fold,cle' "$WORK/q_cle/resnet_fmnist.qdq.onnx" && ok || bad "--cle is not recorded in the exports"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_bc" --cle --bias-correction --weight-bits 4 --per-channel
grep -q "^techniques applied, in order: bn_fold (9 entries), cle (.*pairs 3.*), bias_correction (layers 10, samples 300)$" "$WORK/out" &&
  ok || bad "--cle --bias-correction are not listed in order: $(cat "$WORK/out")"
grep -q '"bias_correction"' "$WORK/q_bc/resnet_fmnist.encodings.json" && grep -aq 'bn_fold,cle,bias_correction' "$WORK/q_bc/resnet_fmnist.onnx" &&
  ok || bad "--bias-correction is not recorded after bn_fold and cle"
expect_fail "give one of --adaround, --adaquant and --bias-correction" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --adaround --bias-correction --out "$WORK/x"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_cleb" --cle --cle-include-bias
grep -q "cle (.*include_bias 1, " "$WORK/out" && ok || bad "--cle-include-bias is not recorded: $(cat "$WORK/out")"
expect_fail "need --cle" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/x" --cle-include-bias
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_bca" --bias-correction-analytical --weight-bits 4 --per-channel
grep -q '"analytical_layers": "3"' "$WORK/q_bca/resnet_fmnist.encodings.json" &&
  ok || bad "--bias-correction-analytical corrected no layer from BN statistics"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_sq" --cle --smooth-quant 0.5
grep -aq 'bn_fold,cle,smooth_quant' "$WORK/q_sq/resnet_fmnist.qdq.onnx" && ok || bad "--smooth-quant is not recorded after bn_fold and cle"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_sq2" --smoothquant 0.8 --act-bits 16 --bias-correction
grep -q "^techniques applied, in order: bn_fold (9 entries), smooth_quant (alpha 0.8.*), bias_correction (" "$WORK/out" &&
  ok || bad "--smoothquant (the issue's spelling) with --act-bits 16 and --bias-correction: $(cat "$WORK/out")"
expect_fail "--smooth-quant needs a number from 0 to 1, got '1.5'" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --smooth-quant 1.5 --out "$WORK/x"
expect_fail "--cle-steps, --cle-keep-relu6, --cle-no-hba and --cle-include-bias need --cle" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --cle-steps 2 --out "$WORK/x"
expect_fail "--cle-steps" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --cle --cle-steps 0 --out "$WORK/x"
expect_fail "unknown calibration method 'kmeans'" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --calib-method kmeans
expect_fail "weight_bits is 17" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --weight-bits 17 --out "$WORK/x"
expect_fail "activation_bits is 1" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --act-bits 1 --out "$WORK/x"
expect_fail "--weight-bits" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --weight-bits 0
expect_fail "--batch-size" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --batch-size many
expect_fail "unknown option '--bogus'" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --bogus
expect_fail "missing.npy" "$QSIM" quantize "$MODEL" --calib "$WORK/missing.npy" --out "$WORK/x"
expect_fail "junk.npy.*bad magic" "$QSIM" quantize "$MODEL" --calib "$WORK/junk.npy" --out "$WORK/x"
expect_fail "float32" "$QSIM" quantize "$MODEL" --calib "$WORK/x_f64.npy" --out "$WORK/x"
head -c 20000 "$WORK/calib.npy" >"$WORK/calib_trunc.npy"
expect_fail "truncated" "$QSIM" quantize "$MODEL" --calib "$WORK/calib_trunc.npy" --out "$WORK/x"
npy "np.save('$WORK/calib_27.npy', np.zeros((4, 1, 27, 28), dtype=np.float32))"
expect_fail "\[4,1,27,28\]" "$QSIM" quantize "$MODEL" --calib "$WORK/calib_27.npy" --out "$WORK/x"
npy "np.save('$WORK/calib_empty.npy', np.zeros((0, 1, 28, 28), dtype=np.float32))"
expect_fail "at least one batch" "$QSIM" quantize "$MODEL" --calib "$WORK/calib_empty.npy" --out "$WORK/x"
expect_fail "'input' holds 1 NaN/Inf" "$QSIM" quantize "$MODEL" --calib "$WORK/calib_nan.npy" --out "$WORK/x"
printf '{"defaults": {"bogus_key": "True"}}' >"$WORK/bogus.json"
expect_fail "bogus_key" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --config "$WORK/bogus.json" --out "$WORK/x"
[ ! -e "$WORK/x" ] && ok || bad "a failed quantize left $WORK/x behind"
expect_fail "cannot create output folder '/proc/qsim-cannot-write'" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out /proc/qsim-cannot-write
mkdir -p "$WORK/q_blocked/resnet_fmnist.qdq.onnx"
expect_fail "resnet_fmnist.qdq.onnx" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/q_blocked"
[ "$(ls -A "$WORK/q_blocked")" = "resnet_fmnist.qdq.onnx" ] && ok || bad "a failed export left files: $(ls -A "$WORK/q_blocked")"
cp "$MODEL" "$WORK/model_dir_model.onnx"
expect_fail "is the session's model" "$QSIM" quantize "$WORK/model_dir_model.onnx" --calib "$WORK/calib.npy" --out "$WORK"
cmp -s "$MODEL" "$WORK/model_dir_model.onnx" && ok || bad "quantize overwrote its own model"
expect_fail "missing.json" "$QSIM" run "$MODEL" --encodings "$WORK/missing.json" --input "$WORK/eval.npy" --output "$WORK/o"
expect_fail "junk.npy" "$QSIM" run "$MODEL" --encodings "$WORK/junk.npy" --input "$WORK/eval.npy" --output "$WORK/o"
expect_fail "has no quantizer" "$QSIM" run "$SRC/models/mobilenet_fmnist.onnx" --encodings "$WORK/q1/resnet_fmnist.encodings.json" --input "$WORK/eval.npy" --output "$WORK/o"
expect_fail "--config needs --encodings" "$QSIM" run "$MODEL" --config "$WORK/lstm.json" --input "$WORK/eval.npy" --output "$WORK/o"

# --- quantize --adaround / --adaquant: the same bytes for a seed whatever the threads and the
# memory budget, the technique in the encodings, progress on a terminal, bad options
W4="--per-channel --weight-bits 4 --calib-method minmax"
ADA="$W4 --adaround-iterations 20 --adaround-samples 64"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/ada1" --adaround $ADA --seed 3
all_exported "$WORK/ada1" resnet_fmnist && ok || bad "--adaround did not write the 5 files: $(ls -A "$WORK/ada1")"
grep -q "^adaround: 10 layers, 64 samples, 200 iterations, [0-9.]* s, [0-9.]* GFLOP, [0-9.]* GFLOP/s" "$WORK/err" && ok || bad "--adaround summary: $(cat "$WORK/err")"
grep -q '"adaround"' "$WORK/ada1/resnet_fmnist.encodings.json" && ok || bad "the encodings do not record AdaRound"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/ada2" --adaround $ADA --seed 3 --threads 2 --memory-budget 0
same=1; for f in $EXPORTS; do cmp -s "$WORK/ada1/resnet_fmnist.$f" "$WORK/ada2/resnet_fmnist.$f" || same=0; done
[ "$same" -eq 1 ] && ok || bad "--adaround with 2 threads and no memory budget exported other bytes"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/ada3" --adaround $ADA --seed 4
cmp -s "$WORK/ada1/resnet_fmnist.onnx" "$WORK/ada3/resnet_fmnist.onnx" && bad "--seed does not change AdaRound's draws" || ok
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/nearest" $W4
cmp -s "$WORK/ada1/resnet_fmnist.onnx" "$WORK/nearest/resnet_fmnist.onnx" && bad "AdaRound left nearest rounding" || ok
cmp -s "$WORK/ada1/resnet_fmnist.encodings.fbs" "$WORK/nearest/resnet_fmnist.encodings.fbs" && bad "the encodings do not differ in the technique record" || ok
$PY -c "import json; a=json.load(open('$WORK/ada1/resnet_fmnist.encodings.json')); b=json.load(open('$WORK/nearest/resnet_fmnist.encodings.json')); assert a['param_encodings'] == b['param_encodings'] and a['activation_encodings'] == b['activation_encodings']" && ok || bad "AdaRound changed the encodings"
expect_ok "$QSIM" run "$WORK/ada1/resnet_fmnist.onnx" --encodings "$WORK/ada1/resnet_fmnist.encodings.fbs" --input "$WORK/eval.npy" --output "$WORK/r_ada"
expect_ok "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --out "$WORK/adaq" --adaquant $ADA
grep -q '"adaquant"' "$WORK/adaq/resnet_fmnist.encodings.json" && ok || bad "the encodings do not record AdaQuant"
script -qec "'$QSIM' quantize '$MODEL' --calib '$WORK/calib.npy' --out '$WORK/ada_tty' --adaround $ADA" /dev/null >"$WORK/tty" 2>&1
grep -q "\[#*\] adaround layer 10/10 Gemm '/fc/Gemm': iteration 20/20" "$WORK/tty" && ok || bad "no AdaRound progress on a terminal: $(tail -c 300 "$WORK/tty")"
expect_fail "--adaround-iterations" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --adaround --adaround-iterations 0
expect_fail "--adaround-samples" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --adaround --adaround-samples lots
expect_fail "give one of --adaround, --adaquant and --bias-correction" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --adaround --adaquant
expect_fail "need --adaround, --adaquant or --bias-correction" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --seed 3
expect_fail "--memory-budget" "$QSIM" quantize "$MODEL" --calib "$WORK/calib.npy" --adaround --memory-budget -1


# --- hostile inputs (issue 21, tests/data/hostile/): a clear error within seconds, no crash
HOSTILE=$SRC/tests/data/hostile
expect_fail "Add 'adder'.*no first output" timeout 10 "$QSIM" info "$HOSTILE/zero_outputs.onnx"
expect_fail "external data location" timeout 10 "$QSIM" info "$HOSTILE/external_escape.onnx"
expect_fail "external_data offset 'abc'" timeout 10 "$QSIM" info "$HOSTILE/external_offset_abc.onnx"
expect_fail "holds 16 bytes" timeout 10 "$QSIM" info "$HOSTILE/external_long.onnx"
expect_fail "missing.bin" timeout 10 "$QSIM" info "$HOSTILE/external_missing.onnx"
$PY "$HOSTILE/make_hostile.py" "$WORK" --chain
expect_ok timeout 10 "$QSIM" info "$WORK/reverse_chain.onnx"
expect_fail "truncated .npy header" timeout 10 "$QSIM" quantize "$WORK/zero_input.onnx" --calib "$HOSTILE/huge_header.npy" --out "$WORK/qh"
expect_fail "hold no values" timeout 10 "$QSIM" quantize "$WORK/zero_input.onnx" --calib "$HOSTILE/zero_width.npy" --out "$WORK/qz"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
