// Quantization encodings: the grid a tensor is quantized to.
//
// qsim stores AIMET's convention (what QNN/SNPE encodings files carry):
//   q  = clamp(round_half_even(x / scale) - offset, 0, 2^bw - 1)
//   x^ = (q + offset) * scale                      (offset <= 0)
// and derives ONNX's QuantizeLinear view from it: on a uint8-style grid zero_point = -offset,
// on an int8-style grid zero_point = -offset - 2^(bw-1). Scales are float32, computed in
// double and rounded once, so simulation and integer runtimes use the very same numbers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qsim {

enum class Symmetry {
  kAsymmetric,         // [min, max] widened to include 0
  kSymmetric,          // offset -2^(bw-1): grid [-2^(bw-1), 2^(bw-1)-1] * scale
  kStrictSymmetric,    // offset -(2^(bw-1)-1): grid [-(2^(bw-1)-1), 2^(bw-1)-1] * scale
  kUnsignedSymmetric,  // offset 0 for non-negative tensors, else as kSymmetric
};

const char* symmetry_name(Symmetry symmetry);

constexpr int kMinBitwidth = 2;
constexpr int kMaxBitwidth = 16;
constexpr int kBiasBitwidth = 32;

// One channel's (or a whole tensor's) grid.
struct ChannelEncoding {
  float scale = 1.0f;
  int32_t offset = 0;
  float min() const { return static_cast<float>(static_cast<double>(offset) * scale); }
  float max(int bitwidth) const;
};

struct Encoding {
  int bitwidth = 8;
  Symmetry symmetry = Symmetry::kSymmetric;
  int axis = -1;  // -1: per tensor; else the channel axis
  std::vector<ChannelEncoding> channels;  // one per tensor, or one per channel along axis

  bool per_channel() const { return axis >= 0; }
  int64_t quant_max() const { return (int64_t{1} << bitwidth) - 1; }
  // True when the effective grid is symmetric around 0 (for file formats' is_symmetric).
  bool is_symmetric() const { return symmetry != Symmetry::kAsymmetric; }
};

// Throws kInvalidArgument unless 2 <= bitwidth <= 16 (or 32 when `allow_bias_width`).
void check_bitwidth(int bitwidth, const std::string& what, bool allow_bias_width = false);

// The grid for the observed range [min, max] of one channel. A zero range (min == max == 0)
// yields scale 1 (with the symmetry's usual offset) rather than a division by zero; NaN/Inf bounds throw kNumeric naming `what`.
ChannelEncoding compute_channel_encoding(double min, double max, int bitwidth, Symmetry symmetry,
                                         const std::string& what);

// Per-tensor or per-channel encoding of a constant tensor (weights) from its values.
Encoding encode_from_values(const Tensor& values, int bitwidth, Symmetry symmetry, int axis,
                            const std::string& what);

// Fake quantization (quantize then dequantize) in place; `axis` channels as in the encoding.
void fake_quantize(Tensor& values, const Encoding& encoding);
void fake_quantize_span(float* values, int64_t count, const ChannelEncoding& channel,
                        int64_t quant_max);
// Integer grid values q in [0, 2^bw - 1] (before subtracting the ONNX zero point).
int64_t quantize_value(float x, const ChannelEncoding& channel, int64_t quant_max);

// ONNX view: the zero point on an unsigned (uint8-style) or signed (int8-style) grid.
int32_t onnx_zero_point(const ChannelEncoding& channel, int bitwidth, bool signed_grid);

}  // namespace qsim
