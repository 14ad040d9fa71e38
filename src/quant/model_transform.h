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
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/encoding_set.h"

namespace qsim {

// What is known of a layer's pre-activation output channels: the scale (gamma) and shift
// (beta) of the BatchNormalization folded into it, i.e. each channel's standard deviation and
// mean over the training data. High-bias absorption and analytical bias correction read them.
struct PreActivationStatistics {
  std::vector<double> gamma, beta;
};
// By the name of the layer's node.
using BatchNormStatistics = std::map<std::string, PreActivationStatistics>;

struct TransformOutcome {
  Model model;
  // What was applied, with its options; an empty name: the model is unchanged, and the
  // transform is not recorded.
  AppliedTechnique record;
  std::vector<std::string> notes;  // what it left alone, and why
  // The statistics of the output model's layers when the transform knows them (BN folding
  // makes them, CLE rescales them). Null after a transform that changed the model: whatever
  // was known before no longer holds (QuantSim::layer_statistics).
  std::shared_ptr<const BatchNormStatistics> statistics;
};

// The metadata_props key under which exported ONNX models (rounded weights, QDQ) record the
// techniques applied, in order: their names joined by ',' ("bn_fold,adaround"; the options are
// in the encodings files).
inline constexpr const char* kTechniquesMetadataKey = "qsim.techniques";

std::string technique_names(const std::vector<AppliedTechnique>& techniques);

// What a transform is given: the model as the transforms before it left it, and what is known
// of that model's layers (null: nothing).
struct TransformInput {
  const Model& model;
  std::shared_ptr<const BatchNormStatistics> statistics;
};

// Throws qsim::Error (kInvalidArgument naming the node or tensor) when the model does not
// suit it; the caller's model is never modified.
using ModelTransform = std::function<TransformOutcome(const TransformInput&)>;

// `transforms` applied to `model` in order.
struct TransformedModel {
  Model model;
  std::vector<AppliedTechnique> applied;  // the transforms that changed the model, in order
  std::vector<std::string> notes;
  std::shared_ptr<const BatchNormStatistics> statistics;  // of the final model's layers
};
TransformedModel apply_transforms(const Model& model,
                                  const std::vector<ModelTransform>& transforms);

}  // namespace qsim
