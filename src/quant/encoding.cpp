#include "quant/encoding.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ops/fake_quantize.h"
#include "util/error.h"

namespace qsim {
namespace {

// Grids wider than this (int32 biases) hold integers float cannot represent exactly.
constexpr int64_t kFloatExactIntegers = int64_t{1} << 24;

float to_scale(double scale) {
  float s = static_cast<float>(scale);
  // A range so small its scale underflows float still needs a usable positive grid.
  return s > 0.0f && std::isfinite(s) ? s : std::numeric_limits<float>::min();
}

ChannelEncoding asymmetric(double min, double max, int bitwidth) {
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  const double levels = std::ldexp(1.0, bitwidth) - 1.0;
  ChannelEncoding e;
  e.scale = to_scale((max - min) / levels);
  e.offset = static_cast<int32_t>(std::nearbyint(min / e.scale));
  return e;
}

ChannelEncoding symmetric(double absmax, int bitwidth, bool strict) {
  const double half = std::ldexp(1.0, bitwidth - 1);
  ChannelEncoding e;
  e.scale = to_scale(absmax / (half - 1.0));
  e.offset = static_cast<int32_t>(strict ? -(half - 1.0) : -half);
  return e;
}

// The integer level nearest `level` towards zero that a float holds exactly.
double float_level_inside(double level) {
  const float f = static_cast<float>(level);
  return static_cast<double>(f) == level || std::fabs(f) < std::fabs(level)
             ? f
             : std::nextafter(f, 0.0f);
}

}  // namespace

const char* symmetry_name(Symmetry symmetry) {
  switch (symmetry) {
    case Symmetry::kAsymmetric: return "asymmetric";
    case Symmetry::kSymmetric: return "symmetric";
    case Symmetry::kStrictSymmetric: return "strict_symmetric";
    case Symmetry::kUnsignedSymmetric: return "unsigned_symmetric";
  }
  return "unknown";
}

float ChannelEncoding::max(int bitwidth) const {
  return static_cast<float>((static_cast<double>(offset) + std::ldexp(1.0, bitwidth) - 1.0) * scale);
}

void check_bitwidth(int bitwidth, const std::string& what, bool allow_bias_width) {
  if (allow_bias_width && bitwidth == kBiasBitwidth) return;
  require(bitwidth >= kMinBitwidth && bitwidth <= kMaxBitwidth, ErrorCode::kInvalidArgument,
          what + ": bit width " + std::to_string(bitwidth) + " is outside " + std::to_string(kMinBitwidth) +
              " to " + std::to_string(kMaxBitwidth));
}

ChannelEncoding compute_channel_encoding(double min, double max, int bitwidth, Symmetry symmetry,
                                         const std::string& what) {
  check_bitwidth(bitwidth, what, true);
  require(std::isfinite(min) && std::isfinite(max), ErrorCode::kNumeric,
          what + ": the observed range is not finite (NaN or Inf in the data)");
  require(min <= max, ErrorCode::kInternal, what + ": min above max");
  const double absmax = std::max(std::fabs(min), std::fabs(max));
  if (absmax == 0.0) {
    // An all-zero tensor: scale 1 (as ONNX Runtime does) keeps derived scales, such as a
    // bias's input_scale * weight_scale, far from underflow; 0 stays exactly 0.
    ChannelEncoding e = compute_channel_encoding(0.0, 1.0, bitwidth, symmetry, what);
    e.scale = 1.0f;
    return e;
  }
  switch (symmetry) {
    case Symmetry::kAsymmetric: return asymmetric(min, max, bitwidth);
    case Symmetry::kSymmetric: return symmetric(absmax, bitwidth, false);
    case Symmetry::kStrictSymmetric: return symmetric(absmax, bitwidth, true);
    case Symmetry::kUnsignedSymmetric:
      if (min >= 0.0) {
        ChannelEncoding e;
        e.scale = to_scale(max / (std::ldexp(1.0, bitwidth) - 1.0));
        e.offset = 0;
        return e;
      }
      return symmetric(absmax, bitwidth, false);
  }
  fail(ErrorCode::kInternal, what + ": unknown symmetry");
}

Encoding encode_from_values(const Tensor& values, int bitwidth, Symmetry symmetry, int axis,
                            const std::string& what) {
  require(values.dtype() == DType::kFloat32, ErrorCode::kInvalidArgument, what + ": only float tensors are quantized");
  Encoding enc;
  enc.bitwidth = bitwidth;
  enc.symmetry = symmetry;
  enc.axis = axis;
  const int64_t channels = axis < 0 ? 1 : values.dim(axis);
  int64_t inner = 1;
  for (int64_t d = axis + 1; axis >= 0 && d < values.rank(); ++d) inner *= values.dim(d);
  const int64_t outer = axis < 0 ? 1 : values.size() / (channels * inner);
  if (axis < 0) inner = values.size();
  const float* data = values.data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    double lo = 0.0, hi = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* block = data + (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        lo = std::min<double>(lo, block[i]);
        hi = std::max<double>(hi, block[i]);
        if (!std::isfinite(block[i]))
          fail(ErrorCode::kNumeric, what + ": holds NaN or Inf, which cannot be quantized");
      }
    }
    enc.channels.push_back(compute_channel_encoding(lo, hi, bitwidth, symmetry,
                                                    what + (axis < 0 ? "" : " channel " + std::to_string(c))));
  }
  return enc;
}

int64_t quantize_value(float x, const ChannelEncoding& channel, int64_t quant_max) {
  if (quant_max > kFloatExactIntegers) {
    const double q = static_cast<double>(std::nearbyint(x / channel.scale)) - channel.offset;
    if (!(q >= 0.0)) return 0;
    return q > static_cast<double>(quant_max) ? quant_max : static_cast<int64_t>(q);
  }
  float q = std::nearbyint(x / channel.scale) - static_cast<float>(channel.offset);
  if (!(q >= 0.0f)) return 0;  // also maps NaN to the lowest level, as saturating casts do
  return q > static_cast<float>(quant_max) ? quant_max : static_cast<int64_t>(q);
}

void fake_quantize_span(float* values, int64_t count, const ChannelEncoding& channel, int64_t quant_max) {
  const float scale = channel.scale;
  if (quant_max > kFloatExactIntegers) {  // int32 bias grids: float cannot hold q + offset
    // The outermost levels a float holds: float(2^31 - 1) would be 2^31, one past the grid.
    const double lo = float_level_inside(channel.offset);
    const double hi =
        float_level_inside(static_cast<double>(channel.offset) + static_cast<double>(quant_max));
    for (int64_t i = 0; i < count; ++i) {
      const double q = std::clamp(static_cast<double>(std::nearbyint(values[i] / scale)), lo, hi);
      values[i] = static_cast<float>(q) * scale;  // as DequantizeLinear: float(q) * scale
    }
    return;
  }
  fake_quantize_floats(values, count, scale, static_cast<float>(channel.offset),
                       static_cast<float>(quant_max));
}

void fake_quantize(Tensor& values, const Encoding& encoding) {
  float* data = values.data<float>();
  if (!encoding.per_channel()) {
    fake_quantize_span(data, values.size(), encoding.channels.at(0), encoding.quant_max());
    return;
  }
  const int64_t channels = values.dim(encoding.axis);
  require(static_cast<int64_t>(encoding.channels.size()) == channels, ErrorCode::kShape,
          "encoding has " + std::to_string(encoding.channels.size()) + " channels, tensor " + values.describe());
  int64_t inner = 1;
  for (int64_t d = encoding.axis + 1; d < values.rank(); ++d) inner *= values.dim(d);
  const int64_t outer = values.size() / (channels * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      fake_quantize_span(data + (o * channels + c) * inner, inner, encoding.channels[c], encoding.quant_max());
}

int32_t onnx_zero_point(const ChannelEncoding& channel, int bitwidth, bool signed_grid) {
  int32_t zp = -channel.offset;
  return signed_grid ? zp - (int32_t{1} << (bitwidth - 1)) : zp;
}

}  // namespace qsim
