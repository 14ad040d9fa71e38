#!/usr/bin/env bash
# The ABI check (docs/ABI.md): the snapshot of include/qsim/qsim.h and the built libqsim
# (tests/abi/abi_snapshot.py: struct sizes and field offsets, enum values, prototypes, exported
# qsim_* symbols) must equal the committed tests/abi/qsim_abi.txt. Any difference fails: with
# the same version it is an ABI change without a version bump; with another version the
# snapshot must be regenerated (scripts/abi-snapshot) and the change reviewed. Then the check
# proves it can fail: a copy of the header with a field inserted into qsim_options must not
# match.
# Usage: check_abi.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
snapshot=$source/tests/abi/qsim_abi.txt
library=$build/src/libqsim.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$source/tests/abi/abi_snapshot.py" "$source/include" "$library" >"$work/now.txt"
if ! diff -u "$snapshot" "$work/now.txt" >"$work/diff.txt"; then
  cat "$work/diff.txt"
  if [ "$(head -1 "$snapshot")" = "$(head -1 "$work/now.txt")" ]; then
    echo "FAIL: the ABI changed without a version bump (QSIM_VERSION_* in include/qsim/qsim.h" \
         "and project() in CMakeLists.txt); see docs/ABI.md"
  else
    echo "FAIL: the version changed: review the ABI difference above and regenerate" \
         "tests/abi/qsim_abi.txt with scripts/abi-snapshot"
  fi
  exit 1
fi
echo "ABI snapshot matches ($(grep -c '^struct' "$snapshot") structs, $(grep -c '^symbol' "$snapshot") symbols)"
# The check must catch a layout change: insert a field at the front of qsim_options.
mkdir -p "$work/mutated/qsim"
sed 's/^typedef struct qsim_options {$/&\n  int32_t abi_check_mutation;/' "$source/include/qsim/qsim.h" \
  >"$work/mutated/qsim/qsim.h"
grep -q abi_check_mutation "$work/mutated/qsim/qsim.h" || { echo "FAIL: the mutation did not apply"; exit 1; }
python3 "$source/tests/abi/abi_snapshot.py" "$work/mutated" "$library" >"$work/mutated.txt"
if diff -q "$snapshot" "$work/mutated.txt" >/dev/null; then
  echo "FAIL: a field inserted into qsim_options went unnoticed"
  exit 1
fi
echo "a field inserted into qsim_options is caught: $(diff "$snapshot" "$work/mutated.txt" | grep -c '^>') snapshot lines differ"
