// QuantSim's model of ONNX Runtime's x86 U8S8 arithmetic without VNNI (Target::
// kOrtAvx2): for every layer ORT runs on a kernel that adds u8 x s8 products in int16 pairs
// (quant/ort_integer_ops.h), the weight pairs whose sums can leave int16, in that kernel's K
// order, ready for the runtime's pair saturation kernels (runtime/ops/pair_saturation.h).
// Made from the prepared model (weights on their grids) and the encodings; immutable after.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/ort_integer_ops.h"
#include "runtime/ops/pair_saturation.h"

namespace qsim {

class OrtAvx2Emulation {
 public:
  OrtAvx2Emulation() = default;
  OrtAvx2Emulation(const Model& prepared, const EncodingLookup& activation,
                   const EncodingLookup& param);

  // After node `node` of the prepared model has run exactly: adds to its output what pair
  // saturation changes. Nothing for nodes whose pairs cannot saturate. Safe to call from
  // several threads at once.
  void apply(size_t node, const Node& n, const std::vector<const Tensor*>& inputs,
             const std::vector<Tensor*>& outputs) const;

  // One line per layer whose pair sums can leave int16, naming the node and the worst sum
  // over its real pairs and the uint8 inputs its grid allows.
  const std::vector<std::string>& notes() const { return notes_; }
  // Layers whose pair sums can leave int16.
  size_t saturable_layers() const { return convs_.size() + matmuls_.size(); }

 private:
  std::map<size_t, PairSaturationConv> convs_;
  std::map<size_t, PairSaturationMatMul> matmuls_;
  std::vector<std::string> notes_;
};

}  // namespace qsim
