#include "quant/encoding_set.h"

namespace qsim {

const char* tensor_role_name(TensorRole role) {
  switch (role) {
    case TensorRole::kModelInput: return "model_input";
    case TensorRole::kActivation: return "activation";
    case TensorRole::kWeight: return "weight";
    case TensorRole::kBias: return "bias";
  }
  return "unknown";
}

bool TensorEncoding::operator==(const TensorEncoding& other) const {
  if (name != other.name || role != other.role || float_bitwidth != other.float_bitwidth ||
      encoding.has_value() != other.encoding.has_value())
    return false;
  if (!encoding) return true;
  const Encoding& a = *encoding;
  const Encoding& b = *other.encoding;
  if (a.bitwidth != b.bitwidth || a.symmetry != b.symmetry || a.axis != b.axis || a.channels.size() != b.channels.size())
    return false;
  for (size_t i = 0; i < a.channels.size(); ++i)
    if (a.channels[i].scale != b.channels[i].scale || a.channels[i].offset != b.channels[i].offset) return false;
  return true;
}

const TensorEncoding* EncodingSet::find(const std::string& name) const {
  for (const auto* list : {&activations, &params})
    for (const auto& t : *list)
      if (t.name == name) return &t;
  return nullptr;
}

}  // namespace qsim
