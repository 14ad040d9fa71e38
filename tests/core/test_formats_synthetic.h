// Encoding sets the encodings-file tests write and read back: a synthetic one covering every
// corner the formats must carry exactly, and one made from a reference model's weights.
// Shared by tests/core/test_formats*.cpp and the C reader's fixture (tests/reader/).
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "graph/onnx_import.h"
#include "io/sha256.h"
#include "quant/encoding.h"
#include "quant/encoding_set.h"

namespace qsim::test {

// Observed ranges chosen to produce awkward scales: thirds, subnormal and huge values,
// all-negative and all-positive data, a zero range.
inline const std::vector<std::pair<double, double>>& awkward_ranges() {
  static const std::vector<std::pair<double, double>> ranges = {
      {-1.0 / 3.0, 2.0 / 3.0}, {0.0, 1e-38}, {-3e30, 1e30}, {-5.5, -0.25}, {0.125, 7.0},
      {-1e-41, 2e-41},         {0.0, 0.0},   {-0.1, 0.3},
  };
  return ranges;
}

inline TensorEncoding quantized_tensor(std::string name, TensorRole role, int bitwidth,
                                       Symmetry symmetry, int axis,
                                       const std::vector<std::pair<double, double>>& ranges) {
  Encoding e;
  e.bitwidth = bitwidth;
  e.symmetry = symmetry;
  e.axis = axis;
  for (const auto& [lo, hi] : ranges)
    e.channels.push_back(compute_channel_encoding(lo, hi, bitwidth, symmetry, name));
  TensorEncoding t;
  t.name = std::move(name);
  t.role = role;
  t.encoding = std::move(e);
  return t;
}

inline TensorEncoding float_tensor(std::string name, TensorRole role, int float_bitwidth) {
  TensorEncoding t;
  t.name = std::move(name);
  t.role = role;
  t.float_bitwidth = float_bitwidth;
  return t;
}

// 64 channels whose ranges grow geometrically and alternate sign, so that unsigned-symmetric
// tensors mix offsets 0 and -2^(bw-1).
inline std::vector<std::pair<double, double>> channel_ranges(int channels) {
  std::vector<std::pair<double, double>> ranges;
  for (int c = 0; c < channels; ++c) {
    const double extent = std::ldexp(1.0 + c / 7.0, c % 40 - 20);
    ranges.emplace_back(c % 2 ? -extent / 3.0 : 0.0, extent);
  }
  return ranges;
}

inline const Symmetry kAllSymmetries[] = {Symmetry::kAsymmetric, Symmetry::kSymmetric,
                                          Symmetry::kStrictSymmetric, Symmetry::kUnsignedSymmetric};

inline EncodingSet synthetic_encoding_set() {
  EncodingSet set;
  const auto& ranges = awkward_ranges();
  set.activations.push_back(quantized_tensor("input", TensorRole::kModelInput, 8,
                                             Symmetry::kAsymmetric, -1, {{0.0, 1.0}}));
  size_t pick = 0;
  for (int bw = kMinBitwidth; bw <= kMaxBitwidth; ++bw)
    for (Symmetry s : kAllSymmetries) {
      const std::string name = "/act/bw" + std::to_string(bw) + "/" + symmetry_name(s);
      set.activations.push_back(quantized_tensor(name, TensorRole::kActivation, bw, s, -1,
                                                 {ranges[pick++ % ranges.size()]}));
    }
  set.activations.push_back(quantized_tensor("/per_channel_act/Relu_output_0",
                                             TensorRole::kActivation, 8,
                                             Symmetry::kUnsignedSymmetric, 1, channel_ranges(16)));
  set.activations.push_back(float_tensor("/softmax/Softmax_output_0", TensorRole::kActivation, 16));
  set.activations.push_back(
      float_tensor("odd \"name\" with \\ back/slashes\tand\ncontrol", TensorRole::kActivation, 32));
  set.activations.push_back(quantized_tensor("unicode/权重/µ/😀", TensorRole::kActivation, 8,
                                             Symmetry::kAsymmetric, -1, {{-2.0, 254.0 / 3.0}}));

  for (Symmetry s : kAllSymmetries)
    set.params.push_back(quantized_tensor(std::string("conv64.weight.") + symmetry_name(s),
                                          TensorRole::kWeight, 8, s, 0, channel_ranges(64)));
  set.params.push_back(quantized_tensor("conv4bit.weight", TensorRole::kWeight, 4,
                                        Symmetry::kStrictSymmetric, 0, channel_ranges(5)));
  set.params.push_back(quantized_tensor("deconv.weight", TensorRole::kWeight, 8,
                                        Symmetry::kSymmetric, 1, channel_ranges(3)));
  set.params.push_back(quantized_tensor("one_channel.weight", TensorRole::kWeight, 6,
                                        Symmetry::kSymmetric, 0, {{-0.7, 0.2}}));
  set.params.push_back(quantized_tensor("fc.weight", TensorRole::kWeight, 2, Symmetry::kAsymmetric,
                                        -1, {{-1.0 / 3.0, 1.0}}));
  set.params.push_back(quantized_tensor("conv64.bias", TensorRole::kBias, kBiasBitwidth,
                                        Symmetry::kSymmetric, 0, channel_ranges(64)));
  set.params.push_back(quantized_tensor("fc.bias", TensorRole::kBias, kBiasBitwidth,
                                        Symmetry::kSymmetric, -1, {{-3.0, 1e-7}}));
  set.params.push_back(quantized_tensor("fc16.bias", TensorRole::kBias, 16, Symmetry::kAsymmetric,
                                        -1, {{-3.0, 1.0}}));
  set.params.push_back(float_tensor("layernorm.weight", TensorRole::kWeight, 16));

  set.excluded_layers = {"/head/Softmax", "layer \"quoted\" 😀"};
  set.target = Target::kOrtAvx2;  // the default, exact, is what files without the field say
  set.quantizer_args.activation_bitwidth = 16;
  set.quantizer_args.param_bitwidth = 4;
  set.quantizer_args.per_channel = true;
  set.quantizer_args.activation_symmetric = true;
  set.quantizer_args.param_symmetric = false;
  set.quantizer_args.quant_scheme = "post_training_percentile";
  set.techniques = {
      {"bn_fold", {}},
      {"adaround", {{"iterations", "10000"}, {"reg_param", "0.01"}, {"beta", "20 -> 2"}}}};
  const std::string seed = "qsim synthetic encodings";
  set.model_fingerprint = sha256_hex(seed.data(), seed.size());
  return set;
}

// Encodings of a reference model's weights and biases as QuantSim would produce them: 8-bit
// per-channel symmetric weights of rank 4 (axis 0), 4-bit asymmetric per-tensor weights of
// rank 2, 32-bit biases, and the model input, named as in the ONNX file.
inline EncodingSet reference_model_encoding_set(const std::string& model_path) {
  const Model model = load_onnx_file(model_path);
  EncodingSet set;
  set.activations.push_back(quantized_tensor(model.graph.inputs.at(0).name, TensorRole::kModelInput,
                                             8, Symmetry::kAsymmetric, -1, {{0.0, 1.0}}));
  for (const auto& [name, values] : model.graph.initializers) {
    if (values.dtype() != DType::kFloat32 || values.size() == 0) continue;
    TensorEncoding t;
    t.name = name;
    if (values.rank() == 1) {
      t.role = TensorRole::kBias;
      t.encoding = encode_from_values(values, kBiasBitwidth, Symmetry::kSymmetric, 0, name);
    } else if (values.rank() == 4) {
      t.role = TensorRole::kWeight;
      t.encoding = encode_from_values(values, 8, Symmetry::kSymmetric, 0, name);
    } else {
      t.role = TensorRole::kWeight;
      t.encoding = encode_from_values(values, 4, Symmetry::kAsymmetric, -1, name);
    }
    set.params.push_back(std::move(t));
  }
  set.model_fingerprint = sha256_file_hex(model_path);
  return set;
}

}  // namespace qsim::test
