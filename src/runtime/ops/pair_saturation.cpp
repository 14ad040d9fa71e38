#include "runtime/ops/pair_saturation.h"

#include <cmath>

#include "util/error.h"

namespace qsim {
namespace {

// How far the saturated sum of one pair falls from the exact one (0 inside int16).
int32_t saturation_error(int32_t x0, int32_t w0, int32_t x1, int32_t w1) {
  const int32_t exact = x0 * w0 + x1 * w1;
  return saturate_int16(exact) - exact;
}

// A pair's positions resolved against a Conv's weight layout.
struct ConvTap {
  int64_t channel = 0;  // input channel within the group
  SpatialDims offset{0, 0, 0};
};

struct ResolvedPair {
  ConvTap tap0, tap1;
  int32_t w0 = 0, w1 = 0;
};

ConvTap resolve_tap(int64_t k, int64_t group_channels, const WindowGeometry& geometry) {
  ConvTap tap;
  tap.channel = k % group_channels;
  int64_t index = k / group_channels;  // row-major over the window
  for (int dim = kMaxSpatialRank - 1; dim >= 0; --dim) {
    tap.offset[dim] = index % geometry.kernel[dim];
    index /= geometry.kernel[dim];
  }
  return tap;
}

// The byte the kernel reads for `tap` at output position `out`: the input, or the zero point
// in the padding (both of ONNX Runtime's Conv paths pad with it).
int32_t tap_value(const ConvTap& tap, const SpatialDims& out, const WindowGeometry& geometry,
                  const float* channel_base, const U8Grid& grid) {
  int64_t offset = 0;
  for (int dim = 0; dim < kMaxSpatialRank; ++dim) {
    const int64_t i = geometry.input_index(dim, out[dim], tap.offset[dim]);
    if (i < 0 || i >= geometry.in[dim]) return grid.zero_point;
    offset = offset * geometry.in[dim] + i;
  }
  return grid.to_u8(channel_base[tap.channel * geometry.in_size() + offset]);
}

}  // namespace

int64_t pair_saturated_dot(std::span<const uint8_t> x, std::span<const int8_t> w) {
  require(x.size() == w.size(), ErrorCode::kShape, "pair_saturated_dot: x and w differ in length");
  int64_t sum = 0;
  for (size_t k = 0; k < x.size(); k += 2) {
    const int32_t second = k + 1 < x.size() ? int32_t{x[k + 1]} * w[k + 1] : 0;
    sum += saturate_int16(int32_t{x[k]} * w[k] + second);
  }
  return sum;
}

int64_t PairSumRange::worst() const {
  const int64_t above = max > kInt16Max ? max : 0;
  const int64_t below = min < kInt16Min ? min : 0;
  return above - kInt16Max >= kInt16Min - below ? above : below;
}

PairSumRange pair_sum_range(int32_t w0, int32_t w1, int32_t x_max) {
  PairSumRange range;
  for (int32_t w : {w0, w1}) {
    range.max += int64_t{x_max} * std::max(w, 0);
    range.min += int64_t{x_max} * std::min(w, 0);
  }
  return range;
}

std::vector<WeightPair> saturable_pairs(std::span<const int32_t> weights, int32_t x_max) {
  std::vector<WeightPair> pairs;
  const auto k_count = static_cast<int64_t>(weights.size());
  for (int64_t k = 0; k < k_count; k += 2) {
    WeightPair pair{k, k + 1 < k_count ? k + 1 : -1, weights[static_cast<size_t>(k)], 0};
    if (pair.k1 >= 0) pair.w1 = weights[static_cast<size_t>(pair.k1)];
    if (pair_sum_range(pair.w0, pair.w1, x_max).saturates()) pairs.push_back(pair);
  }
  return pairs;
}

int32_t U8Grid::to_u8(float x) const {
  const float level = std::nearbyint(x / scale) + static_cast<float>(zero_point);
  if (!(level > 0.0f)) return 0;  // NaN too: no undefined conversion
  return level >= 255.0f ? 255 : static_cast<int32_t>(level);
}

void add_conv_pair_saturation(const Node& node, const PairSaturationConv& conv, const Tensor& x,
                              Tensor& y) {
  const WindowGeometry geometry = forward_window(node, conv.window, x.shape(), conv.kernel_shape);
  const int64_t batch = x.dim(0);
  const int64_t in_channels = x.dim(1);
  const auto out_channels = static_cast<int64_t>(conv.pairs.size());
  require(y.rank() == x.rank() && y.dim(0) == batch && y.dim(1) == out_channels &&
              y.size() == batch * out_channels * geometry.out_size(),
          ErrorCode::kShape,
          "node '" + node.name + "': pair saturation expects the output of " + x.describe() +
              ", got " + y.describe());
  const int64_t out_per_group = out_channels / conv.group;
  float* out = y.data<float>();
  for (int64_t oc = 0; oc < out_channels; ++oc) {
    const auto& weight_pairs = conv.pairs[static_cast<size_t>(oc)];
    if (weight_pairs.empty()) continue;
    std::vector<ResolvedPair> pairs;
    for (const WeightPair& p : weight_pairs) {
      ResolvedPair r{resolve_tap(p.k0, conv.group_channels, geometry), {}, p.w0, p.w1};
      if (p.k1 >= 0) r.tap1 = resolve_tap(p.k1, conv.group_channels, geometry);
      pairs.push_back(r);
    }
    const int64_t first_channel = oc / out_per_group * conv.group_channels;
    const float step = conv.output_step[static_cast<size_t>(oc)];
    for (int64_t n = 0; n < batch; ++n) {
      const float* group_input =
          x.data<float>() + (n * in_channels + first_channel) * geometry.in_size();
      float* plane = out + (n * out_channels + oc) * geometry.out_size();
      SpatialDims o{0, 0, 0};
      for (o[0] = 0; o[0] < geometry.out[0]; ++o[0])
        for (o[1] = 0; o[1] < geometry.out[1]; ++o[1])
          for (o[2] = 0; o[2] < geometry.out[2]; ++o[2]) {
            int64_t error = 0;
            for (const ResolvedPair& p : pairs) {
              const int32_t x0 = tap_value(p.tap0, o, geometry, group_input, conv.input);
              const int32_t x1 =
                  p.w1 == 0 ? 0 : tap_value(p.tap1, o, geometry, group_input, conv.input);
              error += saturation_error(x0, p.w0, x1, p.w1);
            }
            if (error != 0)
              plane[(o[0] * geometry.out[1] + o[1]) * geometry.out[2] + o[2]] +=
                  static_cast<float>(error) * step;
          }
    }
  }
}

void add_matmul_pair_saturation(const PairSaturationMatMul& matmul, const Tensor& x, Tensor& y) {
  const auto columns = static_cast<int64_t>(matmul.pairs.size());
  const int64_t depth = x.dim(x.rank() - 1);
  const int64_t rows = depth == 0 ? 0 : x.size() / depth;
  require(y.size() == rows * columns, ErrorCode::kShape,
          "pair saturation: a product of " + x.describe() + " with " + std::to_string(columns) +
              " columns cannot be " + y.describe());
  for (int64_t m = 0; m < rows; ++m) {
    const float* row = x.data<float>() + m * depth;
    float* out = y.data<float>() + m * columns;
    for (int64_t n = 0; n < columns; ++n) {
      int64_t error = 0;
      for (const WeightPair& p : matmul.pairs[static_cast<size_t>(n)]) {
        const int32_t x0 = matmul.input.to_u8(row[p.k0]);
        const int32_t x1 = p.k1 < 0 ? 0 : matmul.input.to_u8(row[p.k1]);
        error += saturation_error(x0, p.w0, x1, p.w1);
      }
      if (error != 0)
        out[n] +=
            static_cast<float>(error) * matmul.output_step[static_cast<size_t>(n)] * matmul.alpha;
    }
  }
}

}  // namespace qsim
