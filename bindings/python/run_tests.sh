#!/usr/bin/env bash
# Tests the Python binding against an installed qsim, then runs the Python sample.
#
#   run_tests.sh PREFIX SOURCE_DIR CALIB_NPY WORK_DIR
#
# libqsim is found the binding's documented way, pkg-config (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig).
# The package is pip-installed (offline, no build isolation) into WORK_DIR/site and the tests
# import it from there; the sample runs from the source tree and writes WORK_DIR/out. Nothing is
# written outside WORK_DIR.
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 PREFIX SOURCE_DIR CALIB_NPY WORK_DIR" >&2
  exit 2
fi
prefix=$(realpath "$1")
source_dir=$(realpath "$2")
calib=$(realpath -m "$3")
work=$(realpath -m "$4")
python=/usr/bin/python3 # Debian's, with numpy and cffi
model="$source_dir/models/resnet_fmnist.onnx"
for file in "$calib" "$model" "$prefix/lib/pkgconfig/qsim.pc"; do
  [[ -f "$file" ]] || { echo "$0: no file $file" >&2; exit 2; }
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PYTHONDONTWRITEBYTECODE=1
unset QSIM_LIBRARY # the tests prove pkg-config discovery

rm -rf "$work/src" "$work/site" "$work/out"
mkdir -p "$work"

echo "== install the package into $work/site"
cp -r "$source_dir/bindings/python" "$work/src" # pip builds in place: keep the sources clean
PIP_NO_CACHE_DIR=1 "$python" -m pip install --quiet --no-build-isolation --no-deps --no-index \
  --disable-pip-version-check --root-user-action=ignore --target "$work/site" "$work/src"

echo "== tests"
cd "$work"
PYTHONPATH="$work/site" "$python" -c \
  "import qsim, sys; sys.exit(not qsim.__file__.startswith('$work/site/'))"
PYTHONPATH="$work/site" QSIM_TEST_MODEL="$model" QSIM_TEST_CALIB="$calib" \
  "$python" -m pytest -p no:cacheprovider -q "$work/src/tests"

echo "== sample"
output=$(PYTHONPATH="$source_dir/bindings/python" \
  "$python" "$source_dir/samples/python/quantize.py" "$model" "$calib" "$work/out")
echo "$output"
grep -q "^techniques applied, in order: .*adaround" <<<"$output"
for file in model.encodings.fbs model.encodings.json model.encodings.v1.json model.onnx \
  model.qdq.onnx; do
  [[ -s "$work/out/$file" ]] || { echo "the sample did not write $work/out/$file" >&2; exit 1; }
done
echo "python binding: all tests passed"
