// What a fused convolution applies to its outputs as it writes them: an optional sum input Z
// (the other operand of a following Add), then an optional activation. The graph rewrite
// (runtime/graph_fusion.h) builds these from the nodes it fuses, and each activation is
// computed with the very expressions the unfused kernels use (activation.cpp), on scalars or
// Simd vectors alike, so fusing changes no bit of the result.
#pragma once

#include <cstdint>

#include "graph/graph.h"

namespace qsim {

// The activations as function objects: op(x) replaces a float or a Simd<float> vector x by
// its activation, written as std::max / std::min spell their comparisons so that NaN
// propagates as in the unfused kernels.
struct NoActivation {
  template <typename V>
  void operator()(V&) const {}
};

struct ReluActivation {
  template <typename V>
  void operator()(V& x) const {
    const V zero = {};
    x = x < zero ? zero : x;
  }
};

struct ClipActivation {
  float low, high;
  template <typename V>
  void operator()(V& x) const {
    const V zero = {};
    const V raised = x < zero + low ? zero + low : x;
    x = zero + high < raised ? zero + high : raised;
  }
};

// x * HardSigmoid(x) = x * max(0, min(1, alpha * x + beta)).
struct HardSwishActivation {
  float alpha, beta;
  template <typename V>
  void operator()(V& x) const {
    const V zero = {};
    const V one = zero + 1.0f;
    const V t = alpha * x + beta;
    const V below_one = t < one ? t : one;
    x = x * (zero < below_one ? below_one : zero);
  }
};

struct Activation {
  enum class Kind { kNone, kRelu, kClip, kHardSwish };
  Kind kind = Kind::kNone;
  // Clip: the bounds. HardSwish: alpha and beta of its HardSigmoid.
  float a = 0.0f;
  float b = 0.0f;

  // Returns fn(op) with op the function object of this activation, so that the loops fn runs
  // are compiled once per kind, without a branch per element.
  template <typename Fn>
  decltype(auto) visit(Fn&& fn) const {
    switch (kind) {
      case Kind::kRelu:
        return fn(ReluActivation{});
      case Kind::kClip:
        return fn(ClipActivation{a, b});
      case Kind::kHardSwish:
        return fn(HardSwishActivation{a, b});
      default:
        return fn(NoActivation{});
    }
  }
};

// The activation of a FusedConv node (attributes "activation" and "activation_params"); throws
// kUnsupported naming the node for an unknown one.
Activation parse_activation(const Node& node);

// Attributes describing `activation` on a FusedConv node.
void set_activation_attributes(const Activation& activation, Node& node);

// y = activation(y + z) over n elements (z may be nullptr), as a separate pass for the
// kernels that do not fuse it into their inner loops.
void apply_epilogue(const Activation& activation, const float* z, float* y, int64_t n);

}  // namespace qsim
