#!/usr/bin/env bash
# What a user gets from `cmake --install`: installs the build into a fresh prefix, then builds
# the C sample (samples/c/quantize.c) against that prefix alone, three ways, and runs each:
# pkg-config with the shared library, pkg-config --static with libqsim.a, and a CMake project
# with find_package(qsim). The three must write byte-identical encodings files. Also checks
# that libqsim.a holds the C API and that the installed qsim command runs.
# The C++ sample (samples/cpp/quantize.cpp) is built with pkg-config too. The C and C++
# samples' outputs are copied to SAMPLES_DIR/c/out and SAMPLES_DIR/cpp/out, where ctest
# samples_identical compares them with the Python, Rust and Go samples'.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR CALIB_NPY SAMPLES_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
calib=$3
samples_dir=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
pc_dir=$(dirname "$(find "$prefix" -name qsim.pc)")
export PKG_CONFIG_PATH=$pc_dir
for f in include/qsim/qsim.h bin/qsim; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f was not installed"; exit 1; }
done
lib=$(dirname "$(find "$prefix" -name 'libqsim.a')")
nm "$lib/libqsim.a" 2>/dev/null >"$work/static_symbols.txt"
grep -q " T qsim_create$" "$work/static_symbols.txt" ||
  { echo "FAIL: libqsim.a does not hold the C API"; exit 1; }
"$prefix/bin/qsim" --version >/dev/null || { echo "FAIL: the installed qsim does not run"; exit 1; }
model=$source/models/resnet_fmnist.onnx

# 1. pkg-config, shared.
cc -std=c99 -o "$work/sample_shared" "$source/samples/c/quantize.c" $(pkg-config --cflags --libs qsim)
# 2. pkg-config --static, libqsim.a (the C compiler links C++ code: libstdc++ is in Libs.private).
static_libs=$(pkg-config --static --libs qsim | sed 's/ -lqsim / /')
cc -std=c99 -o "$work/sample_static" "$source/samples/c/quantize.c" $(pkg-config --cflags qsim) \
  "$lib/libqsim.a" $static_libs
ldd "$work/sample_static" >"$work/static_ldd.txt"
! grep -q libqsim "$work/static_ldd.txt" || { echo "FAIL: the static sample loads libqsim.so"; exit 1; }
# 2b. The C++ sample, shared.
c++ -std=c++17 -Wall -Wextra -Werror -o "$work/sample_cpp" "$source/samples/cpp/quantize.cpp" \
  $(pkg-config --cflags --libs qsim)
# 3. find_package(qsim).
mkdir -p "$work/cmake_project"
cat >"$work/cmake_project/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(qsim_consumer C)
find_package(qsim 0.3 REQUIRED)
add_executable(sample_cmake $source/samples/c/quantize.c)
target_link_libraries(sample_cmake PRIVATE qsim::qsim)
CMAKE
cmake -S "$work/cmake_project" -B "$work/cmake_build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log"
cmake --build "$work/cmake_build" >>"$work/cmake.log"

for way in shared static cmake cpp; do
  binary=$work/sample_$way
  [ "$way" = cmake ] && binary=$work/cmake_build/sample_cmake
  ldd "$binary" | grep libqsim | grep -q "$prefix" || [ "$way" = static ] ||
    { echo "FAIL: sample_$way does not load the installed libqsim: $(ldd "$binary" | grep libqsim)"; exit 1; }
  "$binary" "$model" "$calib" "$work/out_$way" >"$work/run_$way.log" 2>&1 ||
    { cat "$work/run_$way.log"; echo "FAIL: sample_$way"; exit 1; }
  echo "sample_$way: $(ls "$work/out_$way" | wc -l) files"
done
for f in $(cd "$work/out_shared" && ls *.encodings.*); do
  cmp "$work/out_shared/$f" "$work/out_static/$f" && cmp "$work/out_shared/$f" "$work/out_cmake/$f" ||
    { echo "FAIL: $f differs between the three builds"; exit 1; }
done
rm -rf "$samples_dir/c/out" "$samples_dir/cpp/out"
mkdir -p "$samples_dir/c" "$samples_dir/cpp"
cp -r "$work/out_shared" "$samples_dir/c/out"
cp -r "$work/out_cpp" "$samples_dir/cpp/out"
echo "PASS: installed into a fresh prefix; pkg-config (shared, static) and find_package builds wrote identical encodings"
