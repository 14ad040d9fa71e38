// The ONNX QDQ model: the float model with QuantizeLinear/DequantizeLinear where the encodings
// say, laid out the way ONNX Runtime's graph optimizer fuses into its integer kernels
// (QLinearConv, QLinearAdd, QGemm, ...). docs/EXPORT.md describes the graph.
//
// - An activation (model input or op output) with an encoding gets Q -> DQ after its
//   producer. The producer's output keeps the tensor's name and consumers read "<name>_dq";
//   a graph output instead keeps its name on the DQ output (the producer writes
//   "<name>_float"). Outputs of pure data-movement ops (MaxPool, Reshape, Flatten, ...) that
//   have no encoding of their own reuse their input's: values do not change, and runtimes
//   that do not move Q/DQ across such ops themselves still see an integer path.
// - A parameter with an encoding becomes an int8 initializer "<name>_quantized" behind a
//   DequantizeLinear whose output carries the original name; per-channel encodings give a
//   per-axis DequantizeLinear (axis = the encoding's axis). Any width from 2 to 8 bits fits an
//   int8 container exactly; wider parameters are kUnsupported.
// - The bias of a Conv, ConvTranspose or Gemm whose input and weight are quantized becomes
//   int32 with zero point 0 and scale input_scale * weight_scale (per channel when the weight
//   is), rounded half to even; values beyond int32 are clipped and reported.
// - metadata_props "qsim.target" records the encodings' target (quant/target.h), and
//   "qsim.techniques" the techniques applied (quant/model_transform.h).
// Activations must be 8-bit (kUnsupported otherwise). The opset is raised to 13 (per-axis
// DequantizeLinear) when lower, unless an op changed meaning on the way (kUnsupported).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/encoding_set.h"
#include "quant/model_transform.h"

namespace qsim {

enum class ActivationDType {
  kUInt8,  // zero point = -offset; what ONNX Runtime's x86 integer kernels fuse
  kInt8,   // zero point = -offset - 128; ONNX Runtime keeps these ops in float on x86
};

// The metadata_props key under which the QDQ model records the target its encodings were
// made for (target_name: "exact", "ort-avx2").
inline constexpr const char* kTargetMetadataKey = "qsim.target";

struct QdqOptions {
  ActivationDType activation_dtype = ActivationDType::kUInt8;
};

struct QdqReport {
  int64_t clipped_bias_values = 0;    // integer bias values clipped to the int32 range
  std::vector<std::string> warnings;  // every clip, fallback to float and opset change
};

struct QdqModel {
  Model model;
  QdqReport report;
};

QdqModel build_qdq_model(const Model& model, const EncodingSet& encodings,
                         const QdqOptions& options = {});

// Builds and writes the QDQ model atomically to `path`; an unwritable path throws kIo naming
// it and leaves no file behind.
QdqReport export_qdq_model(const Model& model, const EncodingSet& encodings,
                           const std::string& path, const QdqOptions& options = {});

}  // namespace qsim
