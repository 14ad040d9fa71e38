#include "techniques/fixed_product.h"

#include <algorithm>
#include <array>
#include <utility>

#include "runtime/ops/simd.h"
#include "techniques/register_tile.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

using V = FloatVector;
constexpr int kLanes = 16;
// A register tile: up to kTileRows rows of A times kTileVectors vectors of B's columns.
constexpr int kTileRows = 6;
constexpr int kTileVectors = 4;

template <int R, int VC>
void product_tile(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t depth, V* out) {
  multiply_tile<R, VC>(
      depth, [&](int64_t k, int r) { return a[r * lda + k]; }, b, ldb, out, kTileVectors);
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, V*);

template <int R, size_t... I>
constexpr std::array<TileFn, sizeof...(I)> tiles_of_rows(std::index_sequence<I...>) {
  return {&product_tile<R, static_cast<int>(I) + 1>...};
}

template <size_t... I>
constexpr std::array<std::array<TileFn, kTileVectors>, sizeof...(I)> all_tiles(
    std::index_sequence<I...>) {
  return {tiles_of_rows<static_cast<int>(I) + 1>(std::make_index_sequence<kTileVectors>())...};
}

constexpr auto kTiles = all_tiles(std::make_index_sequence<kTileRows>());

}  // namespace

FixedRightProduct::FixedRightProduct(const float* b, int64_t depth, int64_t cols, int64_t ldb)
    : depth_(depth), cols_(cols), stride_((cols + kLanes - 1) / kLanes * kLanes) {
  b_.assign(static_cast<size_t>(depth_ * stride_), 0.0f);
  for (int64_t k = 0; k < depth_; ++k) std::copy(b + k * ldb, b + k * ldb + cols, &b_[k * stride_]);
}

void FixedRightProduct::multiply(const float* a, int64_t rows, int64_t lda, float* out,
                                 int64_t ldo) const {
  V tile[kTileRows * kTileVectors];
  const int64_t vectors = stride_ / kLanes;
  // Column blocks outside: a block of B (depth x 64 floats) stays in cache for all of A's rows.
  for (int64_t v0 = 0; v0 < vectors; v0 += kTileVectors) {
    const int vc = static_cast<int>(std::min<int64_t>(kTileVectors, vectors - v0));
    for (int64_t r0 = 0; r0 < rows; r0 += kTileRows) {
      const int rc = static_cast<int>(std::min<int64_t>(kTileRows, rows - r0));
      kTiles[static_cast<size_t>(rc - 1)][static_cast<size_t>(vc - 1)](
          a + r0 * lda, lda, b_.data() + v0 * kLanes, stride_, depth_, tile);
      for (int r = 0; r < rc; ++r)
        for (int v = 0; v < vc; ++v) {
          const int64_t col = (v0 + v) * kLanes;
          const int64_t count = std::min<int64_t>(kLanes, cols_ - col);
          const float* lanes = reinterpret_cast<const float*>(&tile[r * kTileVectors + v]);
          std::copy(lanes, lanes + count, out + (r0 + r) * ldo + col);
        }
    }
  }
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
