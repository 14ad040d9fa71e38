#!/usr/bin/env bash
# The samples of every language (samples/<lang>) make the same calls: their encodings files
# must be byte-identical. Each wrote SAMPLES_DIR/<lang>/out (test_install.sh for C and C++,
# bindings/<lang>/run_tests.sh for the others).
# Usage: samples_identical.sh SAMPLES_DIR LANG...
set -euo pipefail
dir=$1
shift
first=$1
files=$(cd "$dir/$first/out" && ls model.encodings.*)
[ "$(echo "$files" | wc -l)" -eq 3 ] || { echo "FAIL: $first wrote: $files"; exit 1; }
for lang in "$@"; do
  for f in $files; do
    [ -f "$dir/$lang/out/$f" ] || { echo "FAIL: the $lang sample wrote no $f (did its test pass?)"; exit 1; }
    cmp "$dir/$first/out/$f" "$dir/$lang/out/$f" || { echo "FAIL: $lang's $f differs from $first's"; exit 1; }
  done
  echo "$lang: $(echo $files) identical to $first's"
done
