// Everything an export carries about a quantized model: one entry per quantized (or
// deliberately float) tensor, keyed by the original ONNX tensor name, plus the settings and
// techniques that produced them. QuantSim fills it; every writer and reader speaks it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "quant/encoding.h"
#include "quant/target.h"

namespace qsim {

enum class TensorRole { kModelInput, kActivation, kWeight, kBias };
const char* tensor_role_name(TensorRole role);

struct TensorEncoding {
  std::string name;  // the ONNX tensor name
  TensorRole role = TensorRole::kActivation;
  // Absent: the tensor stays float (float_bitwidth 16 or 32), as encodings files allow.
  std::optional<Encoding> encoding;
  int float_bitwidth = 32;
  // The file gave a per-channel encoding without its axis (AIMET JSON without qsim's extras):
  // encoding->axis is a guess that loading replaces by the output-channel axis of the layer
  // reading the tensor.
  bool axis_implied = false;

  // Same name, role and grid (scales and offsets compared exactly).
  bool operator==(const TensorEncoding& other) const;
};

struct QuantizerArgs {
  int activation_bitwidth = 8;
  int param_bitwidth = 8;
  bool per_channel = false;
  bool activation_symmetric = false;
  bool param_symmetric = true;
  std::string quant_scheme = "post_training_tf_enhanced";  // AIMET's name for the method
};

// A technique applied to the model, with its options as text key/value pairs.
struct AppliedTechnique {
  std::string name;  // "bn_fold", "adaround", ...
  std::map<std::string, std::string> options;
};

struct EncodingSet {
  std::vector<TensorEncoding> activations;  // model inputs and op outputs
  std::vector<TensorEncoding> params;       // weights and biases
  std::vector<std::string> excluded_layers;
  QuantizerArgs quantizer_args;
  std::vector<AppliedTechnique> techniques;
  std::string model_fingerprint;  // sha256 of the source model bytes, hex
  Target target = Target::kExact;  // the runtime arithmetic the encodings are made for

  const TensorEncoding* find(const std::string& name) const;
};

}  // namespace qsim
