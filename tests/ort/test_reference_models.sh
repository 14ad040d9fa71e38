#!/usr/bin/env bash
# The bundled reference models against ONNX Runtime (npm onnxruntime-node):
#  - `qsim run` outputs on real Fashion-MNIST test images at batch 1 and 64 within 1e-4
#    relative (max abs difference / max abs value);
#  - top-1 over all 10000 test images equal to ONNX Runtime's, image for image.
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
echo "reference models vs onnxruntime: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
