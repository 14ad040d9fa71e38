// Which tensors of a model QuantSim quantizes, and how: decided once from the graph and the
// configuration, before any data is seen.
//
// Activations: the model inputs (model_input) and the float output of every op that is not
// constant-folded, except
//   - an output inside a supergroup (Conv -> Relu: nothing between the Conv and the Relu
//     when the Relu is the Conv output's only reader), as runtimes fuse those ops;
//   - the output of an op that moves or selects values without changing them (Reshape,
//     Flatten, Squeeze, Unsqueeze, Transpose, MaxPool, Identity, Slice, Gather, ...): it
//     shares its input's encoding, as on-target runtimes require (`shared`);
//   - outputs the config leaves float (is_output_quantized False).
// Concat is not in the sharing list: it merges inputs on different grids, and like AIMET
// (an output quantizer of its own) and ONNX Runtime's QLinearConcat (each input requantized
// to the output grid) qsim gives it its own encoding.
// Params: weights of Conv, ConvTranspose, Gemm, MatMul (constant B), PRelu and the
// normalization ops, symmetric, per channel on the output-channel axis when configured;
// biases when configured: int32 with scale = input scale * weight scale. A bias the config
// leaves float is still simulated on that int32 grid when its Conv, ConvTranspose or Gemm has
// a quantized input and weight (`implied_int32_biases`): integer runtimes store it so anyway.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/encoding.h"
#include "quant/encoding_set.h"
#include "quant/quantsim_config.h"

namespace qsim {

struct ActivationQuantizer {
  std::string tensor;
  TensorRole role = TensorRole::kActivation;  // or kModelInput
  Symmetry symmetry = Symmetry::kAsymmetric;
  int bitwidth = 8;
  RangeConstraint constraint;  // from the config's encoding_constraints; usually unset
  std::string producer;        // node label; empty for model inputs
};

struct ParamQuantizer {
  std::string tensor;                     // initializer name
  TensorRole role = TensorRole::kWeight;  // or kBias
  Symmetry symmetry = Symmetry::kSymmetric;
  int bitwidth = 8;  // kBiasBitwidth for int32 biases
  int axis = -1;     // -1: per tensor
  // The axis a per-channel encoding of this parameter follows (the reading layer's output
  // channels), whether or not the configuration quantizes it per channel; -1 when none.
  int channel_axis = -1;
  std::string layer;  // label of the node reading it
  // A weight ONNX Runtime's x86 U8S8 kernels multiply with the layer's uint8 input, where
  // pair sums saturate without VNNI (Target::kOrtAvx2).
  bool u8s8_kernel = false;
  // Int32 biases: scale = scale(activation input) * scale(weight), per channel of the weight.
  std::string bias_input;
  std::string bias_weight;
  bool derived_scale() const { return !bias_weight.empty(); }
};

struct QuantizerPlacement {
  std::vector<ActivationQuantizer> activations;  // model inputs first, then in node order
  std::vector<ParamQuantizer> params;
  // Biases the configuration leaves float whose layer input and weight are quantized. Integer
  // runtimes (ONNX Runtime's QLinearConv and QGemm, QNN) and qsim's QDQ export store them as
  // int32 at input_scale * weight_scale whatever the configuration says, so the simulation puts
  // them on that grid too; unlike `params`, they get no encoding of their own in exports.
  std::vector<ParamQuantizer> implied_int32_biases;
  std::map<std::string, std::string> shared;  // tensor -> tensor whose encoding it reuses
  std::vector<std::string> fused;             // outputs left float inside supergroups
  std::vector<std::string> notes;             // config entries the model does not use, ...

  const ActivationQuantizer* find_activation(const std::string& tensor) const;
  const ParamQuantizer* find_param(const std::string& tensor) const;
  // The tensor whose encoding `tensor` uses: itself, its sharing source, or "" if float.
  std::string encoding_owner(const std::string& tensor) const;
};

struct PlacementOptions {
  int weight_bitwidth = 8;
  int activation_bitwidth = 8;
};

QuantizerPlacement place_quantizers(const Model& model, const QuantSimConfig& config,
                                    const PlacementOptions& options);

}  // namespace qsim
