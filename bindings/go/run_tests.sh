#!/usr/bin/env bash
# Tests the Go binding against an installed qsim, then builds and runs the Go sample.
#
#   bindings/go/run_tests.sh PREFIX SOURCE_DIR CALIB_NPY WORK_DIR
#
# PREFIX: where qsim is installed (PREFIX/lib/pkgconfig/qsim.pc); SOURCE_DIR: the repository;
# CALIB_NPY: float32 calibration samples [N, 1, 28, 28]; WORK_DIR: every build artefact and
# cache, and the sample's export in WORK_DIR/out. GO (default /usr/bin/go) picks the toolchain.
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 PREFIX SOURCE_DIR CALIB_NPY WORK_DIR" >&2
  exit 2
fi
prefix=$(realpath "$1")
source_dir=$(realpath "$2")
calib=$(realpath "$3")
work=$(mkdir -p "$4" && realpath "$4")
go=${GO:-/usr/bin/go}

# The binding finds qsim with pkg-config, whose Libs carry the rpath that lets the test
# binary and the sample load libqsim.so without LD_LIBRARY_PATH (docs/BINDING_GO.md).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export CGO_ENABLED=1
# Everything Go writes stays in WORK_DIR, and nothing is fetched.
export GOENV=off GOPROXY=off GOFLAGS=-modcacherw
export GOCACHE="$work/gocache" GOPATH="$work/gopath" GOTMPDIR="$work/tmp"
mkdir -p "$GOTMPDIR"

cd "$source_dir/bindings/go"
"$go" vet ./...
# cgocheck=2 checks every store into C memory for Go pointers.
GODEBUG=cgocheck=2 QSIM_TEST_MODEL="$source_dir/models/resnet_fmnist.onnx" \
  QSIM_TEST_CALIB="$calib" "$go" test -count=1 -v ./...

cd "$source_dir/samples/go"
"$go" vet .
"$go" build -o "$work/quantize" .
rm -rf "$work/out"
"$work/quantize" "$source_dir/models/resnet_fmnist.onnx" "$calib" "$work/out"
ls "$work/out"/model.encodings.* >/dev/null
