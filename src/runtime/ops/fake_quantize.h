// Fake quantization of float values on a grid that float holds exactly (up to 2^24 levels):
// q = clamp(round_half_even(x / scale) - offset, 0, top), x = (q + offset) * scale, what
// QuantizeLinear + DequantizeLinear compute. Every operation rounds exactly once, so every
// kernel path gives the same bits; the loop is compiled once per path (src/CMakeLists.txt)
// because it is the simulation's per-activation cost, and the x86-64 baseline has no vector
// rounding instruction (SSE4.1's roundps).
#pragma once

#include <cstdint>

#include "util/isa_dispatch.h"

namespace qsim {

#define QSIM_DECLARE_FAKE_QUANTIZE(ns)                                                           \
  namespace ns {                                                                                 \
  void fake_quantize_floats(float* values, int64_t count, float scale, float offset, float top); \
  }
QSIM_FOR_EACH_ISA(QSIM_DECLARE_FAKE_QUANTIZE)
#undef QSIM_DECLARE_FAKE_QUANTIZE

inline void fake_quantize_floats(float* values, int64_t count, float scale, float offset,
                                 float top) {
  QSIM_ISA_ENTRY(fake_quantize_floats)(values, count, scale, offset, top);
}

}  // namespace qsim
