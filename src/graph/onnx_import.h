// ONNX -> qsim IR. Accepts opsets 7 to 21 of the default domain (kernels reject what a newer
// opset added to an op: attributes, modes); Constant nodes become
// initializers; external data is resolved relative to the model file's folder.
#pragma once

#include <cstddef>
#include <string>

#include "graph/graph.h"

namespace qsim {

// Below 7 ops still had the legacy broadcast/is_test attributes; 22 changed types qsim lacks.
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 21;

Model load_onnx_file(const std::string& path);
// `base_dir` resolves external data; empty means external data is an error.
Model load_onnx_memory(const void* data, size_t size, const std::string& base_dir = "");
// Decodes one serialized onnx.TensorProto (the conformance suite's input_*.pb files).
Tensor load_tensor_proto_file(const std::string& path, std::string* name = nullptr);

}  // namespace qsim
