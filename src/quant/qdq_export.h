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
// - A parameter with an encoding becomes an integer initializer "<name>_quantized" behind a
//   DequantizeLinear whose output carries the original name; per-channel encodings give a
//   per-axis DequantizeLinear (axis = the encoding's axis). Widths of 2 to 8 bits are stored
//   as int8 and 9 to 16 as int16, exactly (a parameter's codes are fixed at export).
// - The bias of a Conv, ConvTranspose or Gemm whose input and weight are quantized becomes
//   int32 with zero point 0 and scale input_scale * weight_scale (per channel when the weight
//   is), rounded half to even; values beyond int32 are clipped and reported.
// - Activations are 8-bit (uint8, or int8 on request) or 16-bit (uint16 / int16): the
//   QuantizeLinear of a run-time tensor saturates at its container's limits, so other widths
//   would not saturate where the simulation does (kUnsupported).
// - 16-bit Q/DQ (16-bit activations, 9- to 16-bit parameters) take the form ONNX Runtime
//   executes: its com.microsoft QuantizeLinear/DequantizeLinear at the model's opset (the
//   default, as ONNX Runtime's own quantizer writes them below opset 21), or standard ones
//   with the model raised to opset 21. 8-bit Q/DQ stay standard, so ONNX Runtime still fuses
//   them into its integer kernels.
// - metadata_props "qsim.target" records the encodings' target (quant/target.h), and
//   "qsim.techniques" the techniques applied (quant/model_transform.h).
// The opset is raised to 13 (per-axis DequantizeLinear), or 21, when lower, unless an op's
// inputs or meaning changed on the way (kUnsupported, naming the op and the opsets).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/encoding_set.h"
#include "quant/model_transform.h"

namespace qsim {

enum class ActivationSign {
  kUnsigned,  // uint8 / uint16, zero point = -offset; what ONNX Runtime's x86 kernels fuse
  kSigned,    // int8 / int16, zero point = -offset - 2^(bw-1); ORT keeps int8 ops in float on x86
};

// Where 16-bit QuantizeLinear/DequantizeLinear come from.
enum class WideQdqForm {
  kMicrosoftDomain,  // com.microsoft ops, version 1, at the model's opset
  kOpset21,          // standard ops; the model's opset becomes 21
};

// The metadata_props key under which the QDQ model records the target its encodings were
// made for (target_name: "exact", "ort-avx2").
inline constexpr const char* kTargetMetadataKey = "qsim.target";

struct QdqOptions {
  ActivationSign activation_sign = ActivationSign::kUnsigned;
  WideQdqForm wide_form = WideQdqForm::kMicrosoftDomain;
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
