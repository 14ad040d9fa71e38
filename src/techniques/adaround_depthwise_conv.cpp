#include "techniques/adaround_depthwise_conv.h"

#include <algorithm>
#include <utility>

#include "techniques/conv_tile_loss.h"
#include "util/error.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

using V = FloatVector;
using conv_tiles::BlockLoss;
using conv_tiles::kLanes;

// Windows (taps) it covers: up to 7x7.
constexpr int64_t kMaxTaps = 49;
// Output positions per fused tile: their products wait in L1 for the activation pass.
constexpr int kTilePositions = 8;

// What one vector of 16 channels of a sample needs.
struct ChannelBlock {
  const float* input;    // the sample's padded input at the block's first channel
  const float* target;   // the sample's target at the block's first channel
  const float* weights;  // [taps][channels] at the block's first channel
  float* grads;          // the same layout as weights, or null
  int64_t channels;
  const int64_t* taps;
  int64_t tap_count;
};

// The block's loss over the sample's positions (rows of `out_cols`, `row_step` and `col_step`
// floats apart in the input), with its weight gradient kept in registers when K (the taps,
// when fixed at compile time) allows. The 16 channels go as kRegisterParts register-wide parts
// (one on AVX-512, two on AVX2): a part's 9 weights, its accumulators and an input fit 16
// registers, where 9 weights of 64 bytes do not. Every lane sums the same products in the same
// order on every path.
template <int K, typename Act>
void run_block(const ChannelBlock& b, const Act& act, BlockLoss& block_loss, int64_t out_rows,
               int64_t out_cols, int64_t row_step, int64_t col_step) {
  using R = RegisterVector;
  constexpr int kSlots = K > 0 ? K : static_cast<int>(kMaxTaps);
  const int64_t taps = K > 0 ? K : b.tap_count;
  R g[kRegisterParts][kSlots] = {};
  V z[kTilePositions];
  for (int64_t oy = 0; oy < out_rows; ++oy)
    for (int64_t ox0 = 0; ox0 < out_cols; ox0 += kTilePositions) {
      const int count = static_cast<int>(std::min<int64_t>(kTilePositions, out_cols - ox0));
      const float* window = b.input + oy * row_step + ox0 * col_step;
      float* sums = reinterpret_cast<float*>(z);
      for (int part = 0; part < kRegisterParts; ++part) {
        const int64_t lane = part * kRegisterLanes;
        R w[kSlots];
        for (int64_t k = 0; k < taps; ++k) w[k] = load<R>(b.weights + k * b.channels + lane);
        for (int r = 0; r < count; ++r) {
          const float* x = window + r * col_step + lane;
          R sum = R{};
          for (int64_t k = 0; k < taps; ++k) multiply_add(sum, w[k], load<R>(x + b.taps[k]));
          std::memcpy(sums + r * kLanes + lane, &sum, sizeof sum);
        }
      }
      block_loss.fuse<1>(act, count, z, b.target + (oy * out_cols + ox0) * b.channels, b.channels);
      if (b.grads == nullptr) continue;
      for (int part = 0; part < kRegisterParts; ++part) {
        const int64_t lane = part * kRegisterLanes;
        R gp[kSlots];
        for (int64_t k = 0; k < taps; ++k) gp[k] = g[part][k];
        for (int r = 0; r < count; ++r) {
          const float* x = window + r * col_step + lane;
          const R zr = load<R>(sums + r * kLanes + lane);
          for (int64_t k = 0; k < taps; ++k) multiply_add(gp[k], zr, load<R>(x + b.taps[k]));
        }
        for (int64_t k = 0; k < taps; ++k) g[part][k] = gp[k];
      }
    }
  if (b.grads == nullptr) return;
  for (int part = 0; part < kRegisterParts; ++part)
    for (int64_t k = 0; k < taps; ++k) {
      float* d = b.grads + k * b.channels + part * kRegisterLanes;
      const R sum = load<R>(d) + g[part][k];
      std::memcpy(d, &sum, sizeof sum);
    }
}

}  // namespace

bool DepthwiseConvLayout::covers(const LayerShape& shape, const WindowGeometry& window,
                                 const Activation& activation) {
  return shape.groups > 1 && shape.rows == 1 && shape.groups % kLanes == 0 &&
         shape.depth == window.kernel_size() && window.kernel_size() <= kMaxTaps &&
         window.in[0] == 1 && window.out[0] == 1 && window.kernel[0] == 1 &&
         conv_tiles::has_vector_form(activation);
}

DepthwiseConvLayout::DepthwiseConvLayout(const LayerShape& shape, const WindowGeometry& window)
    : shape_(shape) {
  require(covers(shape, window, Activation{}), ErrorCode::kInternal,
          "adaround: the depthwise Conv loss does not cover this layer");
  channels_ = shape.groups;
  in_rows_ = window.in[1];
  in_cols_ = window.in[2];
  pad_top_ = window.pad_begin[1];
  pad_left_ = window.pad_begin[2];
  padded_rows_ = in_rows_ + pad_top_ + window.pad_end[1];
  padded_cols_ = in_cols_ + pad_left_ + window.pad_end[2];
  out_rows_ = window.out[1];
  out_cols_ = window.out[2];
  stride_rows_ = window.stride[1];
  stride_cols_ = window.stride[2];
  require(
      (out_rows_ - 1) * stride_rows_ + (window.kernel[1] - 1) * window.dilation[1] < padded_rows_ &&
          (out_cols_ - 1) * stride_cols_ + (window.kernel[2] - 1) * window.dilation[2] <
              padded_cols_,
      ErrorCode::kInternal, "adaround: a depthwise Conv window reaches past its padded input");
  for (int64_t ky = 0; ky < window.kernel[1]; ++ky)
    for (int64_t kx = 0; kx < window.kernel[2]; ++kx)
      taps_.push_back((ky * window.dilation[1] * padded_cols_ + kx * window.dilation[2]) *
                      channels_);
}

void DepthwiseConvLayout::lay_out_input(const float* planes, float* dst) const {
  std::fill(dst, dst + input_floats(), 0.0f);
  for (int64_t c = 0; c < channels_; ++c)
    for (int64_t y = 0; y < in_rows_; ++y)
      for (int64_t x = 0; x < in_cols_; ++x)
        dst[((y + pad_top_) * padded_cols_ + x + pad_left_) * channels_ + c] =
            planes[(c * in_rows_ + y) * in_cols_ + x];
}

void DepthwiseConvLayout::lay_out_target(const float* rows, float* dst) const {
  const int64_t positions = shape_.positions;
  for (int64_t c = 0; c < channels_; ++c)
    for (int64_t p = 0; p < positions; ++p) dst[p * channels_ + c] = rows[c * positions + p];
}

double DepthwiseConvLoss::run_sample(const float* input, const float* target, const float* weights,
                                     const float* bias, float scale, Partial* partial) const {
  const DepthwiseConvLayout& l = layout_;
  const int64_t channels = l.channels_;
  const int64_t row_step = l.stride_rows_ * l.padded_cols_ * channels;
  const int64_t col_step = l.stride_cols_ * channels;
  double loss = 0.0;
  for (int64_t c0 = 0; c0 < channels; c0 += kLanes) {
    BlockLoss block_loss(activation_, bias, c0, 1, scale);
    const ChannelBlock block{input + c0,
                             target + c0,
                             weights + c0,
                             partial ? partial->weights.data() + c0 : nullptr,
                             channels,
                             l.taps_.data(),
                             static_cast<int64_t>(l.taps_.size())};
    block_loss.visit([&](const auto& act) {
      if (l.taps_.size() == 9)
        run_block<9>(block, act, block_loss, l.out_rows_, l.out_cols_, row_step, col_step);
      else
        run_block<0>(block, act, block_loss, l.out_rows_, l.out_cols_, row_step, col_step);
    });
    loss += block_loss.finish(partial ? partial->bias.data() : nullptr);
  }
  return loss;
}

double DepthwiseConvLoss::run_task(const float* weights, const float* bias,
                                   std::span<const int64_t> samples, float scale,
                                   Partial* partial) {
  return run_samples(samples, partial, [&](const float* input, const float* target) {
    return run_sample(input, target, weights, bias, scale, partial);
  });
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
