// Integer sums as ONNX Runtime's x86 U8S8 kernels compute them on CPUs without VNNI
// (docs/ORT_AVX2.md): VPMADDUBSW multiplies u8 by s8 and adds each pair of adjacent products
// along the reduction dimension K into an int16 with saturation, before the int32
// accumulation. Which products are adjacent is decided by the caller (quant/ort_integer_ops.h
// knows each op's order); these kernels take the weights in that order.
//
// The emulation does not recompute a layer: it adds to the layer's exact float output the
// amount by which the saturated sums fall short of the exact ones, times the layer's
// accumulator step (input scale * weight scale). Only weight pairs that can leave int16 for
// some input are visited, so the cost is a small fraction of the layer's, and where no pair
// saturates the output is left bit for bit as it was.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "graph/graph.h"
#include "runtime/ops/conv_params.h"
#include "tensor/tensor.h"

namespace qsim {

constexpr int32_t kInt16Max = 32767;
constexpr int32_t kInt16Min = -32768;

constexpr int32_t saturate_int16(int32_t v) {
  return std::clamp(v, kInt16Min, kInt16Max);
}

// sum over i of saturate_int16(x[2i] w[2i] + x[2i+1] w[2i+1]); when K is odd the last product
// stands alone (the kernels pad K with zeros). The reference the other functions agree with.
int64_t pair_saturated_dot(std::span<const uint8_t> x, std::span<const int8_t> w);

// The smallest and largest sum of one pair over u8 inputs in [0, x_max].
struct PairSumRange {
  int64_t min = 0;
  int64_t max = 0;
  bool saturates() const { return min < kInt16Min || max > kInt16Max; }
  // The sum furthest beyond int16 (0 when none is).
  int64_t worst() const;
};
PairSumRange pair_sum_range(int32_t w0, int32_t w1, int32_t x_max);

// Two weights paired along K, at positions k0 and k1 (k1 < 0: w0 has no partner).
struct WeightPair {
  int64_t k0 = 0;
  int64_t k1 = -1;
  int32_t w0 = 0;
  int32_t w1 = 0;
};

// The pairs (2i, 2i+1) of `weights` (one output's raw s8 weights in K order) whose sum can
// leave int16 for some u8 inputs in [0, x_max].
std::vector<WeightPair> saturable_pairs(std::span<const int32_t> weights, int32_t x_max);

// How the float values of a tensor on a uint8 grid map to the bytes a runtime holds:
// round_half_even(x / scale) + zero_point, clamped to [0, 255].
struct U8Grid {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t to_u8(float x) const;
};

// A Conv whose products pair along K = tap-major, input-channel-minor within each group
// (tap = row-major index of the kernel window); padded taps read the input's zero point.
struct PairSaturationConv {
  WindowAttributes window;
  std::vector<int64_t> kernel_shape;  // spatial sizes of the weight
  int64_t group = 1;
  int64_t group_channels = 1;  // input channels per group
  U8Grid input;
  std::vector<std::vector<WeightPair>> pairs;  // by output channel
  std::vector<float> output_step;              // by output channel: input scale * weight scale
};

// Adds to `y`, the exact float output of `node` (a Conv) on `x`, what pair saturation changes.
void add_conv_pair_saturation(const Node& node, const PairSaturationConv& conv, const Tensor& x,
                              Tensor& y);

// A matrix product y[m, n] = alpha * sum_k x[m, k] w[k, n] (+ bias) whose products pair along k.
struct PairSaturationMatMul {
  U8Grid input;
  std::vector<std::vector<WeightPair>> pairs;  // by output column n
  std::vector<float> output_step;              // by output column: input scale * weight scale
  float alpha = 1.0f;
};

// Adds to `y` ([..., N], the exact float product of `x` [..., K]) what pair saturation changes.
void add_matmul_pair_saturation(const PairSaturationMatMul& matmul, const Tensor& x, Tensor& y);

}  // namespace qsim
