#include "runtime/ops/epilogue.h"

#include "runtime/kernel.h"

namespace qsim {
namespace {

constexpr const char* kActivationNames[] = {"", "Relu", "Clip", "HardSwish"};

}  // namespace

Activation parse_activation(const Node& node) {
  const std::string name = node.get_string("activation", "");
  const std::vector<float> params = node.get_floats("activation_params");
  Activation activation;
  for (int k = 0; k < 4; ++k)
    if (name == kActivationNames[k]) activation.kind = static_cast<Activation::Kind>(k);
  if (name != kActivationNames[static_cast<int>(activation.kind)])
    fail_node(node, ErrorCode::kUnsupported, "activation '" + name + "' is not supported");
  const size_t expected =
      activation.kind == Activation::Kind::kClip || activation.kind == Activation::Kind::kHardSwish
          ? 2
          : 0;
  require_node(params.size() == expected, node, ErrorCode::kInvalidArgument,
               "activation '" + name + "' takes " + std::to_string(expected) + " parameters, " +
                   std::to_string(params.size()) + " given");
  if (expected == 2) {
    activation.a = params[0];
    activation.b = params[1];
  }
  return activation;
}

void set_activation_attributes(const Activation& activation, Node& node) {
  node.attributes["activation"] =
      Attribute::of_string(kActivationNames[static_cast<int>(activation.kind)]);
  if (activation.kind != Activation::Kind::kClip && activation.kind != Activation::Kind::kHardSwish)
    return;
  node.attributes["activation_params"] = Attribute::of_floats({activation.a, activation.b});
}

void apply_epilogue(const Activation& activation, const float* z, float* y, int64_t n) {
  if (z != nullptr)
    for (int64_t i = 0; i < n; ++i) y[i] += z[i];
  activation.visit([&](auto op) {
    for (int64_t i = 0; i < n; ++i) op(y[i]);
  });
}

}  // namespace qsim
