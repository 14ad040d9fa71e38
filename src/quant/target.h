// Export targets: the integer arithmetic of the runtime a model's encodings are made for
// (docs/TARGETS.md).
//
// kExact runtimes sum integer products exactly (ONNX Runtime with VNNI, SSE4.1 or on ARM;
// QNN/SNPE). ONNX Runtime's x86 U8S8 kernels on CPUs with AVX2 but without VNNI multiply uint8
// activations by int8 weights with VPMADDUBSW, which adds each pair of adjacent products along
// K and saturates the pair sum to int16 before widening: 2 * 255 * 127 = 64770 does not fit.
// For kOrtAvx2, a weight those kernels read keeps its 8-bit grid only where no pair of its
// int8 values can saturate with any uint8 inputs; elsewhere it gets the 7-bit grid, whose int8
// values lie in [-64, 63] (2 * 255 * 64 = 32640 fits), as ONNX Runtime's reduce_range does.
#pragma once

#include <string>
#include <vector>

#include "quant/encoding.h"
#include "tensor/tensor.h"

namespace qsim {

enum class Target {
  kExact,    // exact integer sums
  kOrtAvx2,  // ONNX Runtime's x86 U8S8 kernels without VNNI: pair sums saturate to int16
};

// "exact", "ort-avx2": what command lines, files and notes say.
const char* target_name(Target target);
// kInvalidArgument listing the names for any other name.
Target target_from_name(const std::string& name);

// Per group of `values` along `group_axis` (the weight's output channels; -1: one group), true
// when no two int8 values of the group (as the QDQ export stores them: q - 2^(bw-1)) can
// saturate an int16 pair sum with uint8 inputs, however each value is rounded (down or up, as
// AdaRound may choose): the two largest positive values sum to at most 128 and the two most
// negative to at least -128, so |sum| <= 255 * 128 = 32640. A per-channel `encoding` must run
// along `group_axis`.
std::vector<bool> int16_pair_sums_fit(const Tensor& values, const Encoding& encoding,
                                      int group_axis);

// The grid of a weight ONNX Runtime reads with its U8S8 kernels under Target::kOrtAvx2, from
// the weight's usual 8-bit encoding and its 7-bit one (same symmetry and axis): `eight_bit`
// where its pair sums fit int16 (int16_pair_sums_fit); `seven_bit` where no channel fits (or any
// group of a per-tensor encoding does not); else `eight_bit` with the channels that do not fit
// on their 7-bit grid, written as 8-bit (the same scale, offset 64 lower: the same levels, the
// outer half of the 8-bit grid unused), since an encoding has one bit width. Only 8-bit weights
// need this: 7 bits and fewer never saturate, and wider weights have no int8 form.
Encoding ort_avx2_weight_encoding(const Tensor& values, const Encoding& eight_bit,
                                  const Encoding& seven_bit, int group_axis);

}  // namespace qsim
