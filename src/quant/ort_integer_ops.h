// How ONNX Runtime (1.30, x86-64) runs the layers of the QDQ model qsim exports, in the one
// place other passes read it from (sources and line references in docs/ORT_AVX2.md):
//
// - which nodes its QDQ transformer turns into integer U8S8 ops: a Conv whose input
//   activation and weight have encodings and whose output is quantized, directly or through
//   a Relu/Clip that a uint8 zero point of 0 makes redundant (QLinearConv); a Gemm (QGemm,
//   transA = 0) or a MatMul with a constant 2-D weight (QLinearMatMul, MatMulIntegerToFloat)
//   whose input and weight have encodings;
// - which MLAS kernel each takes on x86, and how that kernel orders the reduction dimension K
//   and pairs its u8 x s8 products (OrtKernel below);
// - what arithmetic a CPU's kernels do with the pairs (Target).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/encoding.h"
#include "quant/target.h"

namespace qsim {


// The MLAS kernel a layer runs on. Every saturating kernel orders K the same way: a Conv's K
// is tap-major, input-channel-minor within a group (K = tap * C_group + c, the tap being the
// row-major index of the window), a matrix product's K is its inner dimension; products
// 2i and 2i+1 of K are added into one int16 by VPMADDUBSW (u8 input first, s8 weight
// second); K is padded with zero bytes to a multiple of 4, so a last odd product stands alone.
enum class OrtKernel {
  kConvSym,     // QLinearConv's symmetric NHWC indirect kernel (convsym.cpp, ConvSymKernelAvx2.S):
                // group 1, weight zero points 0, C % 4 == 0, M % 8 == 0, M >= 16
  kConvIm2col,  // QLinearConv's im2col + QGEMM (qgemm.cpp, QgemmU8S8KernelAvx2.S): other Convs
  kConvDepthwise,  // one input and output channel per group: 16-bit products widened to int32
                   // (ConvSymDepthwiseKernelAvx2, MlasConvDepthwiseKernelAvx2), exact everywhere
  kQgemm,          // QGemm, QLinearMatMul, MatMulIntegerToFloat: QGEMM
};
const char* ort_kernel_name(OrtKernel kernel);
// True when the kernel adds products in int16 pairs on CPUs without VNNI.
bool pairs_saturate(OrtKernel kernel);

// A node ONNX Runtime runs on a U8S8 integer kernel.
struct OrtIntegerLayer {
  size_t node = 0;
  OrtKernel kernel = OrtKernel::kQgemm;
  const Encoding* input = nullptr;   // per tensor, 8 bits: uint8 bytes
  const Encoding* weight = nullptr;  // <= 8 bits: int8 bytes
};

// The encoding a tensor is on, or nullptr (activations by any tensor sharing the grid,
// parameters by name).
using EncodingLookup = std::function<const Encoding*(const std::string& tensor)>;

// The nodes of `model` that ONNX Runtime runs on U8S8 integer kernels when the model is
// exported as QDQ with these encodings (uint8 activations, the QDQ export's default).
std::vector<OrtIntegerLayer> ort_integer_layers(const Model& model,
                                                const EncodingLookup& activation,
                                                const EncodingLookup& param);

// The raw int8 bytes of a weight on `encoding` (q - 2^(bw-1), what the QDQ export stores), in
// the K order of `kernel`: one vector per output channel (Conv: weight [M, C/group, taps...];
// Gemm: `transB` says whether the weight is [N, K]; MatMul: [K, N]).
std::vector<std::vector<int32_t>> weight_bytes_along_k(const Tensor& weight,
                                                       const Encoding& encoding, const Node& node);

}  // namespace qsim
