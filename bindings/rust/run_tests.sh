#!/usr/bin/env bash
# Tests the Rust binding against an installed qsim, then builds and runs the Rust sample.
#
#   bindings/rust/run_tests.sh PREFIX SOURCE_DIR CALIB_NPY WORK_DIR
#
# PREFIX: where qsim is installed (found through PREFIX/lib/pkgconfig/qsim.pc only).
# SOURCE_DIR: the qsim repository (the crates, samples/rust, the model, tests/abi).
# CALIB_NPY: float32 calibration samples [N, 1, 28, 28] for models/resnet_fmnist.onnx.
# WORK_DIR: every build artefact and output goes here; the sample writes WORK_DIR/out.
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 PREFIX SOURCE_DIR CALIB_NPY WORK_DIR" >&2
  exit 2
fi
prefix=$(realpath "$1")
source_dir=$(realpath "$2")
calib_npy=$(realpath "$3")
mkdir -p "$4"
work_dir=$(realpath "$4")

# Debian's toolchain, whatever rustup puts first on PATH; nothing is downloaded.
cargo=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_HOME="$work_dir/cargo-home"
export CARGO_TARGET_DIR="$work_dir/target"
export TMPDIR="$work_dir/tmp"
mkdir -p "$TMPDIR"

# Discovery as users have it: pkg-config on the installed qsim.pc; no QSIM_LIB_DIR, and no
# LD_LIBRARY_PATH (the binaries carry an rpath).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
unset QSIM_LIB_DIR LD_LIBRARY_PATH

# Where the tests find the model, the ABI snapshot and the calibration samples.
export QSIM_SOURCE_DIR="$source_dir"
export QSIM_CALIB_NPY="$calib_npy"

# --locked: the committed Cargo.lock files must be the ones Cargo would write.
"$cargo" test --offline --locked --manifest-path "$source_dir/bindings/rust/Cargo.toml" --workspace

"$cargo" build --offline --locked --release --manifest-path "$source_dir/samples/rust/Cargo.toml"
rm -rf "$work_dir/out"
"$CARGO_TARGET_DIR/release/quantize" "$source_dir/models/resnet_fmnist.onnx" "$calib_npy" "$work_dir/out"
for file in model.encodings.fbs model.encodings.json model.encodings.v1.json model.onnx model.qdq.onnx; do
  if [[ ! -s "$work_dir/out/$file" ]]; then
    echo "the Rust sample did not write $work_dir/out/$file" >&2
    exit 1
  fi
done
echo "Rust binding: tests passed; the sample wrote $work_dir/out"
