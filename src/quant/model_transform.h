// Techniques that change the float model (batch-norm folding now; cross-layer equalization,
// high-bias absorption, SmoothQuant and ReLU6 replacement as issue #22 adds them) are graph
// transforms: QuantSim applies them to the model it is given, in the order its options list
// them, before it places quantizers, and records each one that changed the model. Every
// encodings export carries that ordered list (EncodingSet::techniques).
//
// The quant layer knows transforms only by this type; the techniques layer makes them
// (techniques/model_transforms.h), so QuantSim depends on no technique.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/encoding_set.h"

namespace qsim {

struct TransformOutcome {
  Model model;
  // What was applied, with its options; an empty name: the model is unchanged, and the
  // transform is not recorded.
  AppliedTechnique record;
  std::vector<std::string> notes;  // what it left alone, and why
};

// The metadata_props key under which exported ONNX models (rounded weights, QDQ) record the
// techniques applied, in order: their names joined by ',' ("bn_fold,adaround"; the options are
// in the encodings files).
inline constexpr const char* kTechniquesMetadataKey = "qsim.techniques";

std::string technique_names(const std::vector<AppliedTechnique>& techniques);

// Throws qsim::Error (kInvalidArgument naming the node or tensor) when the model does not
// suit it; the caller's model is never modified.
using ModelTransform = std::function<TransformOutcome(const Model&)>;

}  // namespace qsim
