// Quantizer placement (src/quant/quantizer_placement.h) on the reference models.
#include <algorithm>
#include <catch2/catch.hpp>

#include "graph/bn_fold.h"
#include "quant/quantizer_placement.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

Model folded_model(const std::string& file) {
  return fold_batch_norms(load_onnx_file(testdata::model_path(file))).model;
}

const Node& node_named(const Model& m, const std::string& name) {
  for (const Node& n : m.graph.nodes)
    if (n.name == name) return n;
  FAIL("no node " << name);
  return m.graph.nodes.at(0);
}

bool is_fused(const QuantizerPlacement& p, const std::string& tensor) {
  return std::find(p.fused.begin(), p.fused.end(), tensor) != p.fused.end();
}

// Expected activation quantizers from the op counts: the model input, plus every op output
// except Conv outputs whose only reader is a Relu/Clip (supergroups), Add outputs read only by
// a Relu, and outputs of MaxPool/Flatten (which share their input's encoding).
int64_t expected_activation_quantizers(const Model& m) {
  int64_t count = 1;
  for (const Node& n : m.graph.nodes) {
    if (n.op_type == "MaxPool" || n.op_type == "Flatten") continue;
    int readers = 0;
    const Node* reader = nullptr;
    for (const Node& r : m.graph.nodes)
      for (const auto& in : r.inputs)
        if (in == n.outputs[0]) {
          ++readers;
          reader = &r;
        }
    const bool fused =
        readers == 1 &&
        ((n.op_type == "Conv" && (reader->op_type == "Relu" || reader->op_type == "Clip")) ||
         (n.op_type == "Add" && reader->op_type == "Relu"));
    if (!fused) ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("placement on the ResNet: supergroups, shared encodings, per-channel weights") {
  const Model m = folded_model("resnet_fmnist.onnx");
  const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
  // 1 input + 7 Relu + 5 Conv outputs feeding an Add + GlobalAveragePool + Gemm.
  CHECK(static_cast<int64_t>(p.activations.size()) == expected_activation_quantizers(m));
  CHECK(p.activations.size() == 15);
  CHECK(p.activations.front().tensor == "input");
  CHECK(p.activations.front().role == TensorRole::kModelInput);

  // Conv -> Relu: no quantizer on the Conv output.
  const Node& stem = node_named(m, "/stem/stem.0/Conv");
  CHECK(p.find_activation(stem.outputs[0]) == nullptr);
  CHECK(is_fused(p, stem.outputs[0]));
  // Add -> Relu likewise.
  CHECK(is_fused(p, node_named(m, "/layer1/Add").outputs[0]));
  // A Conv feeding an Add keeps its quantizer.
  CHECK(p.find_activation(node_named(m, "/layer1/conv2/conv2.0/Conv").outputs[0]) != nullptr);

  // MaxPool and Flatten reuse their input's encoding.
  const Node& pool = node_named(m, "/pool/MaxPool");
  CHECK(p.find_activation(pool.outputs[0]) == nullptr);
  CHECK(p.encoding_owner(pool.outputs[0]) == pool.inputs[0]);
  const Node& flatten = node_named(m, "/Flatten");
  CHECK(p.encoding_owner(flatten.outputs[0]) == flatten.inputs[0]);
  CHECK(p.shared.size() == 2);

  for (const ActivationQuantizer& q : p.activations) {
    CHECK(q.symmetry == Symmetry::kAsymmetric);
    CHECK(q.bitwidth == 8);
  }
  // Weights: 9 Conv + 1 Gemm, symmetric, per channel on axis 0; biases stay float.
  CHECK(p.params.size() == 10);
  for (const ParamQuantizer& q : p.params) {
    CHECK(q.role == TensorRole::kWeight);
    CHECK(q.symmetry == Symmetry::kSymmetric);
    CHECK(q.axis == 0);
  }
}

TEST_CASE("placement on the MobileNet: Conv+Clip supergroups and the Hardswish branch") {
  const Model m = folded_model("mobilenet_fmnist.onnx");
  const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(false), {});
  CHECK(static_cast<int64_t>(p.activations.size()) == expected_activation_quantizers(m));
  CHECK(p.activations.size() == 27);
  CHECK(p.fused.size() == 10);  // expand and depthwise Conv of each of 5 blocks, before a Clip
  // The stem Conv feeds HardSigmoid and Mul: two readers, so no supergroup.
  CHECK(p.find_activation(node_named(m, "/stem/stem.0/Conv").outputs[0]) != nullptr);
  CHECK(p.shared.size() == 1);  // Flatten
  CHECK(p.params.size() == 18);
  for (const ParamQuantizer& q : p.params) CHECK(q.axis == -1);  // per tensor
}

TEST_CASE("a config changes placement: bias, outputs, symmetric activations, inputs") {
  const Model m = folded_model("resnet_fmnist.onnx");
  QuantSimConfig c = parse_quantsim_config(
      R"({"defaults": {"ops": {"is_output_quantized": "True", "is_symmetric": "True"},
                       "params": {"is_quantized": "True"}, "unsigned_symmetric": "False"},
          "params": {"bias": {"is_quantized": "True"}},
          "op_type": {"GlobalAveragePool": {"is_output_quantized": "False"},
                      "Squeeze": {"is_output_quantized": "False"}},
          "supergroups": [{"op_list": ["Conv", "Relu"]}],
          "model_input": {"is_input_quantized": "False"},
          "model_output": {"is_output_quantized": "False"}})",
      "custom.json");
  const QuantizerPlacement p = place_quantizers(m, c, {4, 16});
  CHECK(p.find_activation("input") == nullptr);
  CHECK(p.find_activation("logits") == nullptr);                           // model_output False
  CHECK(p.find_activation("/gap/GlobalAveragePool_output_0") == nullptr);  // op_type override
  // Without an Add+Relu supergroup the Add outputs are quantized.
  CHECK(p.find_activation("/layer1/Add_output_0") != nullptr);
  for (const ActivationQuantizer& q : p.activations) {
    CHECK(q.symmetry == Symmetry::kSymmetric);
    CHECK(q.bitwidth == 16);
  }
  // The stem Conv reads the unquantized model input, so its bias cannot be int32 and stays
  // float; every other Conv/Gemm bias gets scale = input scale * weight scale.
  int biases = 0;
  for (const ParamQuantizer& q : p.params) {
    if (q.role == TensorRole::kWeight) CHECK(q.bitwidth == 4);
    if (q.role != TensorRole::kBias) continue;
    ++biases;
    CHECK(q.bitwidth == 32);
    CHECK(q.derived_scale());
    CHECK_FALSE(q.bias_input.empty());
  }
  CHECK(biases == 9);
  CHECK(p.find_param("stem.0.bias") == nullptr);
  // Flatten reads the float GlobalAveragePool output: nothing to share, so its own quantizer.
  CHECK(p.find_activation("/Flatten_output_0") != nullptr);
  bool noted_squeeze = false;
  for (const auto& note : p.notes)
    noted_squeeze = noted_squeeze || note.find("'Squeeze'") != std::string::npos;
  CHECK(noted_squeeze);
}

TEST_CASE("bit widths outside 2..16 are rejected") {
  const Model m = folded_model("resnet_fmnist.onnx");
  for (int bits : {0, 1, 17}) {
    CHECK_THROWS_AS(place_quantizers(m, default_quantsim_config(false), {bits, 8}), Error);
    CHECK_THROWS_AS(place_quantizers(m, default_quantsim_config(false), {8, bits}), Error);
  }
}
