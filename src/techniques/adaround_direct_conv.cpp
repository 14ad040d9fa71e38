#include "techniques/adaround_direct_conv.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "runtime/ops/simd.h"
#include "techniques/conv_tile_loss.h"
#include "techniques/element_chunks.h"
#include "techniques/register_tile.h"
#include "util/error.h"
#include "util/integer_math.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

using V = FloatVector;
using conv_tiles::BlockLoss;
using conv_tiles::kLanes;
using conv_tiles::kMaxTileVectors;
using conv_tiles::max_tile;

// z[r * OV + v] = sum over taps k of weights[k][v-th vector] * window[taps[k] + r], for the
// R consecutive positions of a tile.
template <int OV, int R>
void forward_tile(const float* window, const int64_t* taps, int64_t depth, const float* weights,
                  int64_t outputs, V* z) {
  multiply_tile<R, OV>(
      depth, [&](int64_t k, int r) { return window[taps[k] + r]; }, weights, outputs, z, OV);
}

// grads[k][v-th vector] += sum over the tile's positions r of g[r * OV + v] * window[taps[k] + r],
// for the `count` depth indices k in `depths`.
template <int OV, int R>
void backward_tile(const float* window, const int64_t* taps, const int64_t* depths, int64_t count,
                   const V* g, float* grads, int64_t outputs) {
  // Few vectors give few independent sums per tap: split each in two to hide the FMA latency.
  constexpr int kChains = OV >= 4 ? 1 : 2;
  V gr[R][OV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) gr[r][v] = g[r * OV + v];
  for (int64_t i = 0; i < count; ++i) {
    const int64_t k = depths[i];
    const float* x = window + taps[k];
    float* d = grads + k * outputs;
    V acc[kChains][OV];
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) {
      acc[0][v] = load_vector(d + v * kLanes);
      if constexpr (kChains == 2) acc[1][v] = V{};
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const V xr = splat(x[r]);
#pragma GCC unroll 4
      for (int v = 0; v < OV; ++v) multiply_add(acc[r % kChains][v], gr[r][v], xr);
    }
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) {
      if constexpr (kChains == 2) acc[0][v] += acc[1][v];
      store_vector(d + v * kLanes, acc[0][v]);
    }
  }
}

using PairedForward = void (*)(const float*, const int64_t*, int64_t, const float*, V*);

#if defined(__AVX512F__)
// With one vector of output channels, forward_tile() loads a broadcast input for each
// multiply-add, and on two busy cores that load traffic, not the arithmetic, sets the pace.
// forward_pairs() broadcasts two neighbouring positions' inputs at once (64 bits, adjacent in
// the padded rows) against each weight doubled: `paired` is [depth][2 halves][8 channels x 2],
// w[k][8 h + c] in lanes 2c and 2c + 1 of half h. Lane 2c of half h then sums channel 8 h + c
// at the pair's first position, lane 2c + 1 at its second: the same products in the same
// order as forward_tile<1, 2 P>, so the same bits. z is written in forward_tile's layout.
template <int P>
void forward_pairs(const float* window, const int64_t* taps, int64_t depth, const float* paired,
                   V* z) {
  __m512 acc[2][P];
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) acc[0][j] = acc[1][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < depth; ++k) {
    const __m512 w0 = _mm512_loadu_ps(paired + k * 2 * kLanes);
    const __m512 w1 = _mm512_loadu_ps(paired + k * 2 * kLanes + kLanes);
    const float* x = window + taps[k];
#pragma GCC unroll 8
    for (int j = 0; j < P; ++j) {
      double two_inputs;
      std::memcpy(&two_inputs, x + 2 * j, sizeof two_inputs);
      const __m512 pair = _mm512_castpd_ps(_mm512_set1_pd(two_inputs));
      acc[0][j] = _mm512_fmadd_ps(w0, pair, acc[0][j]);
      acc[1][j] = _mm512_fmadd_ps(w1, pair, acc[1][j]);
    }
  }
  const __m512i first =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(1));
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) {
    z[2 * j] = (V)_mm512_permutex2var_ps(acc[0][j], first, acc[1][j]);
    z[2 * j + 1] = (V)_mm512_permutex2var_ps(acc[0][j], second, acc[1][j]);
  }
}

template <size_t... I>
std::array<PairedForward, sizeof...(I)> paired_forwards_for(std::index_sequence<I...>) {
  return {&forward_pairs<static_cast<int>(I) + 1>...};
}

// forward_pairs() for an even `count` of positions.
PairedForward paired_forward(int count) {
  static const auto all = paired_forwards_for(std::make_index_sequence<max_tile(1) / 2>());
  return all[static_cast<size_t>(count / 2 - 1)];
}
#else
// Without AVX-512 there is no paired forward: prepare() leaves the paired weights empty.
PairedForward paired_forward(int) {
  return nullptr;
}
#endif

struct TileKernels {
  void (*forward)(const float*, const int64_t*, int64_t, const float*, int64_t, V*);
  void (*backward)(const float*, const int64_t*, const int64_t*, int64_t, const V*, float*,
                   int64_t);
};

template <int OV, size_t... I>
std::array<TileKernels, sizeof...(I)> kernels_for(std::index_sequence<I...>) {
  return {TileKernels{&forward_tile<OV, static_cast<int>(I) + 1>,
                      &backward_tile<OV, static_cast<int>(I) + 1>}...};
}

const TileKernels& kernels(int vectors, int count) {
  static const auto one = kernels_for<1>(std::make_index_sequence<max_tile(1)>());
  static const auto two = kernels_for<2>(std::make_index_sequence<max_tile(2)>());
  static const auto four = kernels_for<4>(std::make_index_sequence<max_tile(4)>());
  const size_t i = static_cast<size_t>(count - 1);
  return vectors == 1 ? one[i] : vectors == 2 ? two[i] : four[i];
}

}  // namespace

bool DirectConvLayout::covers(const LayerShape& shape, const WindowGeometry& window,
                              const Activation& activation) {
  return shape.groups == 1 && shape.rows % kLanes == 0 && window.in[0] == 1 && window.out[0] == 1 &&
         window.kernel[0] == 1 && conv_tiles::has_vector_form(activation);
}

DirectConvLayout::DirectConvLayout(const LayerShape& shape, const WindowGeometry& window)
    : shape_(shape) {
  require(covers(shape, window, Activation{}), ErrorCode::kInternal,
          "adaround: the direct Conv loss does not cover this layer");
  const int64_t outputs = shape.outputs();
  vectors_ = outputs % (4 * kLanes) == 0 ? 4 : outputs % (2 * kLanes) == 0 ? 2 : 1;
  const int64_t kernel_rows = window.kernel[1], kernel_cols = window.kernel[2];
  channels_ = shape.depth / (kernel_rows * kernel_cols);
  in_rows_ = window.in[1];
  in_cols_ = window.in[2];
  pad_top_ = window.pad_begin[1];
  pad_left_ = window.pad_begin[2];
  stride_cols_ = window.stride[2];
  const int64_t padded_rows = in_rows_ + pad_top_ + window.pad_end[1];
  const int64_t padded_cols = in_cols_ + pad_left_ + window.pad_end[2];
  phase_floats_ = ceil_div(padded_cols, stride_cols_);
  row_floats_ = stride_cols_ * phase_floats_;
  plane_floats_ = padded_rows * row_floats_;
  const int64_t out_rows = window.out[1], out_cols = window.out[2];
  require(
      (out_rows - 1) * window.stride[1] + (kernel_rows - 1) * window.dilation[1] < padded_rows &&
          (out_cols - 1) * stride_cols_ + (kernel_cols - 1) * window.dilation[2] < padded_cols,
      ErrorCode::kInternal, "adaround: a Conv window reaches past its padded input");

  for (int64_t c = 0; c < channels_; ++c)
    for (int64_t ky = 0; ky < kernel_rows; ++ky)
      for (int64_t kx = 0; kx < kernel_cols; ++kx) {
        const int64_t col = kx * window.dilation[2];
        taps_.push_back(c * plane_floats_ + ky * window.dilation[1] * row_floats_ +
                        col % stride_cols_ * phase_floats_ + col / stride_cols_);
      }
  const int64_t per_row = ceil_div(out_cols, max_tile(vectors_));
  for (int64_t oy = 0; oy < out_rows; ++oy)
    for (int64_t i = 0, ox = 0; i < per_row; ++i) {
      const int count = static_cast<int>(out_cols / per_row + (i < out_cols % per_row ? 1 : 0));
      tiles_.push_back({oy * out_cols + ox, oy * window.stride[1] * row_floats_ + ox, count});
      ox += count;
    }
}

void DirectConvLayout::lay_out_input(const float* planes, float* dst) const {
  std::fill(dst, dst + input_floats(), 0.0f);
  for (int64_t c = 0; c < channels_; ++c)
    for (int64_t y = 0; y < in_rows_; ++y) {
      const float* src = planes + (c * in_rows_ + y) * in_cols_;
      float* row = dst + c * plane_floats_ + (y + pad_top_) * row_floats_;
      for (int64_t x = 0; x < in_cols_; ++x) {
        const int64_t col = x + pad_left_;
        row[col % stride_cols_ * phase_floats_ + col / stride_cols_] = src[x];
      }
    }
}

void DirectConvLayout::lay_out_target(const float* rows, float* dst) const {
  const int64_t outputs = shape_.outputs(), positions = shape_.positions;
  for (int64_t o = 0; o < outputs; ++o)
    for (int64_t p = 0; p < positions; ++p) dst[p * outputs + o] = rows[o * positions + p];
}

// A kernel block's output channels are whole live blocks of one depth index.
static_assert(kLanes == kLiveBlock);

// Per block of output channels, the depth indices whose gradient row in the block is needed:
// those with a live block of weights (all of them without `live_blocks`).
void DirectConvLoss::find_needed_depths(const uint8_t* live_blocks) {
  const int64_t outputs = shape_.outputs(), depth = shape_.depth;
  const int64_t block = layout_.vectors_ * kLanes, blocks = outputs / block;
  depths_.resize(static_cast<size_t>(blocks * depth));
  depth_counts_.assign(static_cast<size_t>(blocks), 0);
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t* depths = depths_.data() + b * depth;
    int64_t& count = depth_counts_[static_cast<size_t>(b)];
    for (int64_t k = 0; k < depth; ++k) {
      const uint8_t* live = live_blocks + (k * outputs + b * block) / kLiveBlock;
      if (live_blocks == nullptr ||
          std::any_of(live, live + layout_.vectors_, [](uint8_t l) { return l != 0; }))
        depths[count++] = k;
    }
  }
}

void DirectConvLoss::prepare(const float* weights, const uint8_t* live_blocks) {
  find_needed_depths(live_blocks);
  if (layout_.vectors_ != 1 || paired_forward(2) == nullptr) return;
  // forward_pairs()' layout, per block of kLanes output channels: [block][depth][32].
  const int64_t outputs = shape_.outputs(), depth = shape_.depth;
  paired_weights_.resize(static_cast<size_t>(outputs * depth * 2));
  float* paired = paired_weights_.data();
  for (int64_t first = 0; first < outputs; first += kLanes)
    for (int64_t k = 0; k < depth; ++k, paired += 2 * kLanes)
      for (int64_t c = 0; c < kLanes; ++c) {
        const float w = weights[k * outputs + first + c];
        paired[c / 8 * kLanes + 2 * (c % 8)] = w;
        paired[c / 8 * kLanes + 2 * (c % 8) + 1] = w;
      }
}

double DirectConvLoss::run_sample(const float* input, const float* target, const float* weights,
                                  const float* bias, float scale, Partial* partial) const {
  const int64_t outputs = shape_.outputs(), depth = shape_.depth;
  const int vectors = layout_.vectors_;
  const int64_t block = vectors * kLanes;
  const int64_t* taps = layout_.taps_.data();
  double loss = 0.0;
  V z[kMaxTileVectors];
  for (int64_t first = 0; first < outputs; first += block) {
    BlockLoss block_loss(activation_, bias, first, vectors, scale);
    // The depth indices whose gradient rows this block needs (find_needed_depths()).
    const int64_t* needed = partial ? depths_.data() + first / block * depth : nullptr;
    const int64_t needed_count = partial ? depth_counts_[static_cast<size_t>(first / block)] : 0;
    const float* paired =
        paired_weights_.empty() ? nullptr : paired_weights_.data() + first * depth * 2;
    for (const DirectConvLayout::Tile& tile : layout_.tiles_) {
      const TileKernels& k = kernels(vectors, tile.count);
      const float* window = input + tile.offset;
      if (paired != nullptr && tile.count % 2 == 0)
        paired_forward(tile.count)(window, taps, depth, paired, z);
      else
        k.forward(window, taps, depth, weights + first, outputs, z);
      block_loss.run(tile.count, z, target + tile.position * outputs + first, outputs);
      if (partial != nullptr)
        k.backward(window, taps, needed, needed_count, z, partial->weights.data() + first, outputs);
    }
    loss += block_loss.finish(partial ? partial->bias.data() : nullptr);
  }
  return loss;
}

double DirectConvLoss::run_task(const float* weights, const float* bias,
                                std::span<const int64_t> samples, float scale, Partial* partial) {
  return run_samples(samples, partial, [&](const float* input, const float* target) {
    return run_sample(input, target, weights, bias, scale, partial);
  });
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
