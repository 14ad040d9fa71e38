// exp, log and pow for float32 without library calls, so that loops over many weights
// vectorize (the C library's expf and powf do not): Cephes' range reductions and minimax
// polynomials, accurate to a few units in the last place for the arguments AdaRound uses
// (normal, finite). Plain arithmetic and selects only: the same value in every lane and thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include "util/isa_namespace.h"

namespace qsim::QSIM_ISA_NS::fast {

// e^x for x in [-87, 88] (clamped outside).
inline float exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // n = round(x / ln 2) by adding 1.5 * 2^23, whose float spacing is 1: no float-to-int
  // conversion, which keeps GCC from vectorizing the clamp before it.
  constexpr float kShift = 12582912.0f;
  const float shifted = x * 1.44269504088896341f + kShift;
  const float n = shifted - kShift;
  const int32_t n_bits = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kShift);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  const float r2 = r * r, r4 = r2 * r2;
  // The polynomial by Estrin's scheme: pairs, then powers, so that its chain of dependent
  // operations is half Horner's. AdaRound's step (this and log() for every weight, with
  // -ffp-contract=off) took 12.5 -> 11.2 us per 4096 weights (one thread, median of 15).
  const float p = (1.9875691500e-4f * r + 1.3981999507e-3f) * r4 +
                  (8.3334519073e-3f * r + 4.1665795894e-2f) * r2 +
                  (1.6666665459e-1f * r + 5.0000001201e-1f);
  const float e_r = p * r2 + r + 1.0f;
  return e_r * std::bit_cast<float>((n_bits + 127) << 23);
}

// ln x for normal x > 0.
inline float log(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f000000);  // in [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  const float m2 = m * m, m4 = m2 * m2, m8 = m4 * m4;
  // Estrin's scheme, as in exp().
  const float low =
      (3.3333331174e-1f - 2.4999993993e-1f * m) + (2.0000714765e-1f - 1.6668057665e-1f * m) * m2;
  const float high =
      (1.4249322787e-1f - 1.2420140846e-1f * m) + (1.1676998740e-1f - 1.1514610310e-1f * m) * m2;
  const float p = low + high * m4 + 7.0376836292e-2f * m8;
  float y = p * m * m2;
  y += -2.12194440e-4f * e;
  y += -0.5f * m2;
  return m + y + 0.693359375f * e;
}

// x^y for x >= 0 (0 for x below the normal range).
inline float pow(float x, float y) {
  const float power = exp(y * log(x));  // computed either way: a select vectorizes
  return x < 1e-30f ? 0.0f : power;
}

}  // namespace qsim::QSIM_ISA_NS::fast
