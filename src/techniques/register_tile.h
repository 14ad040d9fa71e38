// The register tile both of AdaRound's own product kernels run (adaround_direct_conv.cpp,
// fixed_product.cpp): R rows times V vectors of 16 columns, summed over the depth in order.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/ops/simd.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

// out[r * out_stride + v] = sum over k < depth of a(k, r) * b[k * ldb + 16 v ...], for r < R
// and v < V; `a(k, r)` is the left operand's element (broadcast), b's rows are read as vectors.
// Every element is the same sum in the same order on every path; only the register blocking
// differs (narrow_multiply_tile).
template <int R, int V, typename Left>
inline void multiply_tile(int64_t depth, const Left& a, const float* b, int64_t ldb,
                          FloatVector* out, int out_stride);

#if !defined(__AVX512F__)
// The avx2 and baseline paths have 16 registers of 32 or 16 bytes: R x V 64-byte accumulators
// would spill on every multiply-add. The tile is computed in passes over groups of G register
// columns, G the largest power of two dividing the row's register count with R x G within
// kNarrowAccumulators.
#if defined(__AVX__)
typedef float NarrowVector __attribute__((vector_size(32)));
#else
typedef float NarrowVector __attribute__((vector_size(16)));
#endif
constexpr int kNarrowLanes = sizeof(NarrowVector) / sizeof(float);
constexpr int kNarrowAccumulators = 12;

constexpr int narrow_group(int rows, int columns) {
  int group = 1;
  while (group * 2 <= columns && columns % (group * 2) == 0 &&
         rows * group * 2 <= kNarrowAccumulators)
    group *= 2;
  return group;
}

template <int R, int V, typename Left>
inline void narrow_multiply_tile(int64_t depth, const Left& a, const float* b, int64_t ldb,
                                 FloatVector* out, int out_stride) {
  constexpr int kColumns = V * 16 / kNarrowLanes;
  constexpr int G = narrow_group(R, kColumns);
  float* out_floats = reinterpret_cast<float*>(out);
  for (int c0 = 0; c0 < kColumns; c0 += G) {
    NarrowVector acc[R][G];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[r][g] = NarrowVector{};
    const float* bc = b + c0 * kNarrowLanes;
    for (int64_t k = 0; k < depth; ++k) {
      NarrowVector bv[G];
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) bv[g] = load<NarrowVector>(bc + k * ldb + g * kNarrowLanes);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const NarrowVector ar = splat<NarrowVector>(a(k, r));
#pragma GCC unroll 8
        for (int g = 0; g < G; ++g) multiply_add(acc[r][g], bv[g], ar);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g)
        std::memcpy(out_floats + r * out_stride * 16 + (c0 + g) * kNarrowLanes, &acc[r][g],
                    sizeof(NarrowVector));
  }
}
#endif

template <int R, int V, typename Left>
inline void multiply_tile(int64_t depth, const Left& a, const float* b, int64_t ldb,
                          FloatVector* out, int out_stride) {
#if !defined(__AVX512F__)
  return narrow_multiply_tile<R, V>(depth, a, b, ldb, out, out_stride);
#else
  FloatVector acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = FloatVector{};
  for (int64_t k = 0; k < depth; ++k) {
    FloatVector bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      bv[v] = load_vector(b + k * ldb + v * 16);
      in_register(bv[v]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const FloatVector ar = splat(a(k, r));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) multiply_add(acc[r][v], bv[v], ar);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) out[r * out_stride + v] = acc[r][v];
#endif
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
