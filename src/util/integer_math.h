// Integer rounding shared by the runtime's kernels and the techniques.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qsim {

// a / b rounded up, for a >= 0 and b > 0.
constexpr int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// `a` rounded up to a multiple of `unit`, for a >= 0 and unit > 0.
constexpr int64_t round_up(int64_t a, int64_t unit) {
  return ceil_div(a, unit) * unit;
}
constexpr size_t round_up(size_t a, size_t unit) {
  return (a + unit - 1) / unit * unit;
}

}  // namespace qsim
