#!/usr/bin/env bash
# The bundled reference models against ONNX Runtime (npm onnxruntime-node):
#  - `qsim run` outputs on real Fashion-MNIST test images at batch 1 and 64 within 1e-4
#    relative (max abs difference / max abs value);
#  - top-1 over all 10000 test images equal to ONNX Runtime's, image for image;
#  - the same for their opset-9 and opset-11 re-exports (batch 64 only);
#  - the segmentation model's maps within 1e-4 relative too.
set -u
SRC=${QSIM_SOURCE_DIR:?}
BUILD=${QSIM_BUILD_DIR:?}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

for model in resnet_fmnist mobilenet_fmnist vit_fmnist_opset13 vit_fmnist_opset17; do
  onnx=$SRC/models/$model.onnx
  for batch in 1 64; do
    for threads in 1 2; do
      echo "== $model batch $batch threads $threads (qsim run vs onnxruntime)"
      if "$BUILD/tools/compare/qsim_compare_ort" "$onnx" --fmnist 100 --batch "$batch" --threads "$threads" \
          --via-cli "$BUILD/src/qsim" --tolerance 1e-4; then
        passed=$((passed + 1))
      else
        failed=$((failed + 1))
      fi
    done
  done
  echo "== $model: top-1 over 10000 test images"
  if node "$SRC/tools/ort/run.js" fmnist "$onnx" --output "$WORK/$model.ort.npy" --batch 100 &&
     "$BUILD/tools/compare/qsim_fmnist_eval" "$onnx" --ort-logits "$WORK/$model.ort.npy"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
# The same models re-exported by PyTorch at opsets 9 and 11 (tools/reexport_old_opset.py): qsim
# reads their old forms (Clip's attribute bounds at 9, Constant bounds at 11).
for model in mobilenet_fmnist_opset9 mobilenet_fmnist_opset11 resnet_fmnist_opset9 resnet_fmnist_opset11; do
  onnx=$SRC/models/$model.onnx
  echo "== $model batch 64 (qsim run vs onnxruntime), top-1 over 10000 test images"
  if "$BUILD/tools/compare/qsim_compare_ort" "$onnx" --fmnist 100 --batch 64 --via-cli "$BUILD/src/qsim" \
      --tolerance 1e-4 &&
     node "$SRC/tools/ort/run.js" fmnist "$onnx" --output "$WORK/$model.ort.npy" --batch 100 &&
     "$BUILD/tools/compare/qsim_fmnist_eval" "$onnx" --ort-logits "$WORK/$model.ort.npy"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
# The segmentation model (output: a [N,1,28,28] sigmoid map; no top-1).
for batch in 1 64; do
  for threads in 1 2; do
    echo "== seg_fmnist batch $batch threads $threads (qsim run vs onnxruntime)"
    if "$BUILD/tools/compare/qsim_compare_ort" "$SRC/models/seg_fmnist.onnx" --fmnist 100 --batch "$batch" \
        --threads "$threads" --via-cli "$BUILD/src/qsim" --tolerance 1e-4; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
done
echo "reference models vs onnxruntime: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
