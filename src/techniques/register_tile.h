// The register tile both of AdaRound's own product kernels run (adaround_direct_conv.cpp,
// fixed_product.cpp): R rows times V vectors of 16 columns, summed over the depth in order.
#pragma once

#include <cstdint>

#include "runtime/ops/simd.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

// out[r * out_stride + v] = sum over k < depth of a(k, r) * b[k * ldb + 16 v ...], for r < R
// and v < V; `a(k, r)` is the left operand's element (broadcast), b's rows are read as vectors.
template <int R, int V, typename Left>
inline void multiply_tile(int64_t depth, const Left& a, const float* b, int64_t ldb,
                          FloatVector* out, int out_stride) {
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
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
