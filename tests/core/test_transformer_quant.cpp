// Transformer blocks (issue #24): the LayerNormalization kernel, and quantizer placement on the
// Fashion-MNIST ViT (models/vit_fmnist_opset13.onnx with LayerNorm decomposed,
// models/vit_fmnist_opset17.onnx with LayerNormalization ops), docs/TRANSFORMERS.md.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "quant/qdq_export.h"
#include "quant/quantizer_placement.h"
#include "quant/quantsim_config.h"
#include "runtime/engine.h"
#include "single_op_model.h"
#include "techniques/adaround_layer.h"
#include "test_quantsim_data.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

// Values 0.25 * ((i * 7) % 23 - 11) + i / 64: varied, not symmetric about the mean.
Tensor pattern(Shape shape) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<float>()[i] = 0.25f * static_cast<float>((i * 7) % 23 - 11) + static_cast<float>(i) / 64;
  return t;
}

// LayerNormalization over rows of `row` elements, the obvious way in double.
std::vector<double> reference_layer_norm(const Tensor& x, int64_t row, const Tensor& scale,
                                         const Tensor& bias, double epsilon) {
  std::vector<double> y(static_cast<size_t>(x.size()));
  const float* v = x.data<float>();
  for (int64_t r = 0; r < x.size() / row; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < row; ++i) mean += v[r * row + i];
    mean /= static_cast<double>(row);
    for (int64_t i = 0; i < row; ++i) var += std::pow(v[r * row + i] - mean, 2);
    var /= static_cast<double>(row);
    for (int64_t i = 0; i < row; ++i)
      y[static_cast<size_t>(r * row + i)] =
          (v[r * row + i] - mean) / std::sqrt(var + epsilon) * scale.data<float>()[i] +
          bias.data<float>()[i];
  }
  return y;
}

Tensor run_one(std::shared_ptr<Model> model, const std::vector<Tensor>& inputs, int threads = 1) {
  Engine engine(std::move(model), EngineOptions{threads});
  return engine.run(inputs).at(0);
}

ErrorCode failure_of(const std::function<void()>& fn) {
  return testdata::error_code_of(fn);
}

const Model& vit(int opset) {
  static const Model m13 = load_onnx_file(testdata::model_path("vit_fmnist_opset13.onnx"));
  static const Model m17 = load_onnx_file(testdata::model_path("vit_fmnist_opset17.onnx"));
  return opset == 13 ? m13 : m17;
}

std::vector<const Node*> nodes_of(const Model& m, const std::string& op) {
  std::vector<const Node*> found;
  for (const Node& n : m.graph.nodes)
    if (n.op_type == op) found.push_back(&n);
  return found;
}

bool is_fused(const QuantizerPlacement& p, const std::string& tensor) {
  return std::find(p.fused.begin(), p.fused.end(), tensor) != p.fused.end();
}

}  // namespace

TEST_CASE("LayerNormalization normalizes the trailing dimensions from axis") {
  for (int64_t axis : {-1, 1}) {
    const Shape shape = {3, 4, 8};
    const int64_t row = axis == -1 ? 8 : 32;
    const Shape param_shape = axis == -1 ? Shape{8} : Shape{4, 8};
    Tensor scale = pattern(param_shape), bias = pattern(param_shape);
    for (int64_t i = 0; i < bias.size(); ++i) bias.data<float>()[i] *= -0.5f;
    const Tensor x = pattern(shape);
    for (int threads : {1, 2}) {
      const Tensor y = run_one(
          one_node("LayerNormalization", 17, {"x", "scale", "bias"},
                   {{"axis", Attribute::of_int(axis)}, {"epsilon", Attribute::of_float(1e-3f)}},
                   {{"scale", scale}, {"bias", bias}}),
          {x}, threads);
      REQUIRE(y.shape() == shape);
      const std::vector<double> want = reference_layer_norm(x, row, scale, bias, 1e-3);
      for (int64_t i = 0; i < y.size(); ++i)
        CHECK(y.data<float>()[i] ==
              Approx(want[static_cast<size_t>(i)]).epsilon(1e-6).margin(1e-6));
    }
  }
}

TEST_CASE("LayerNormalization without B, and what it refuses") {
  const Tensor x = pattern({2, 5});
  const Tensor scale = make_tensor<float>({5}, {1, 2, 3, 4, 5});
  Tensor zero(DType::kFloat32, {5});
  std::fill(zero.data<float>(), zero.data<float>() + 5, 0.0f);
  const Tensor y =
      run_one(one_node("LayerNormalization", 17, {"x", "scale"}, {}, {{"scale", scale}}), {x});
  const std::vector<double> want = reference_layer_norm(x, 5, scale, zero, 1e-5);
  for (int64_t i = 0; i < y.size(); ++i)
    CHECK(y.data<float>()[i] == Approx(want[static_cast<size_t>(i)]).epsilon(1e-6).margin(1e-6));

  // A scale that does not cover the normalized dimensions.
  CHECK(failure_of([&] {
          run_one(one_node("LayerNormalization", 17, {"x", "scale"}, {},
                           {{"scale", make_tensor<float>({4}, {1, 2, 3, 4})}}),
                  {x});
        }) == ErrorCode::kShape);
  // Statistics in another type are not implemented.
  CHECK(failure_of([&] {
          run_one(one_node("LayerNormalization", 17, {"x", "scale"},
                           {{"stash_type", Attribute::of_int(0)}}, {{"scale", scale}}),
                  {x});
        }) == ErrorCode::kUnsupported);
}

TEST_CASE("LayerNormalization's Mean and InvStdDev outputs hold each row's statistics") {
  const Tensor x = pattern({2, 3, 4});
  const Tensor scale = make_tensor<float>({3, 4}, std::vector<float>(12, 1.0f));
  Engine engine(one_node("LayerNormalization", 17, {"x", "scale"}, {{"axis", Attribute::of_int(1)}},
                         {{"scale", scale}}, {"y", "mean", "inv_std"}),
                EngineOptions{1});
  const std::vector<Tensor> out = engine.run({x});
  REQUIRE(out.size() == 3);
  CHECK(out[1].shape() == Shape{2, 1, 1});
  CHECK(out[2].shape() == Shape{2, 1, 1});
  for (int64_t r = 0; r < 2; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < 12; ++i) mean += x.data<float>()[r * 12 + i];
    mean /= 12;
    for (int64_t i = 0; i < 12; ++i) var += std::pow(x.data<float>()[r * 12 + i] - mean, 2);
    var /= 12;
    CHECK(out[1].data<float>()[r] == Approx(mean).epsilon(1e-6));
    CHECK(out[2].data<float>()[r] == Approx(1 / std::sqrt(var + 1e-5)).epsilon(1e-6));
  }
}

TEST_CASE("ViT placement: one quantizer per decomposed LayerNorm and per Erf GELU") {
  const Model& m = vit(13);
  const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
  // Inside the patterns nothing is quantized.
  for (const char* op : {"Pow", "Sqrt", "Sub", "Erf"})
    for (const Node* n : nodes_of(m, op)) {
      CHECK(p.find_activation(n->outputs[0]) == nullptr);
      CHECK(is_fused(p, n->outputs[0]));
    }
  // Each LayerNorm's Div is followed by its gamma Mul and beta Add: the Add's output is the one
  // quantized.
  int layer_norm_outputs = 0;
  for (const Node* div : nodes_of(m, "Div")) {
    bool after_sqrt = false;
    for (const Node* s : nodes_of(m, "Sqrt"))
      after_sqrt = after_sqrt || s->outputs[0] == div->inputs[1];
    if (!after_sqrt) continue;
    CHECK(is_fused(p, div->outputs[0]));
    for (const Node& mul : m.graph.nodes)
      if (mul.op_type == "Mul" && mul.inputs[0] == div->outputs[0])
        for (const Node& add : m.graph.nodes)
          if (add.op_type == "Add" && add.inputs[0] == mul.outputs[0]) {
            CHECK(is_fused(p, mul.outputs[0]));
            CHECK(p.find_activation(add.outputs[0]) != nullptr);
            ++layer_norm_outputs;
          }
  }
  CHECK(layer_norm_outputs == 5);

  // With the option off, every float output has its own quantizer again.
  QuantSimConfig unfused = default_quantsim_config(true);
  unfused.fuse_decomposed_patterns = false;
  const QuantizerPlacement q = place_quantizers(m, unfused, {});
  for (const Node* n : nodes_of(m, "Sqrt")) CHECK(q.find_activation(n->outputs[0]) != nullptr);
  for (const Node* n : nodes_of(m, "Erf")) CHECK(q.find_activation(n->outputs[0]) != nullptr);
  CHECK(q.activations.size() > p.activations.size() + 30);
}

TEST_CASE("ViT placement: attention MatMuls, data movement, LayerNormalization parameters") {
  for (int opset : {13, 17}) {
    CAPTURE(opset);
    const Model& m = vit(opset);
    const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
    int two_activation_matmuls = 0, weight_matmuls = 0;
    for (const Node* mm : nodes_of(m, "MatMul")) {
      if (m.graph.is_initializer(mm->inputs[1])) {
        // A constant B is a weight, per channel along its last axis (the output features).
        const ParamQuantizer* w = p.find_param(mm->inputs[1]);
        REQUIRE(w != nullptr);
        CHECK(w->axis == 1);
        ++weight_matmuls;
        continue;
      }
      // Q.K^T and attention.V: both inputs are quantized activations.
      CHECK_FALSE(p.encoding_owner(mm->inputs[0]).empty());
      CHECK_FALSE(p.encoding_owner(mm->inputs[1]).empty());
      ++two_activation_matmuls;
    }
    CHECK(two_activation_matmuls == 4);
    CHECK(weight_matmuls == 12);
    // Transpose and Reshape keep their input's grid.
    for (const char* op : {"Transpose", "Reshape"})
      for (const Node* n : nodes_of(m, op)) {
        CHECK(p.find_activation(n->outputs[0]) == nullptr);
        CHECK(p.encoding_owner(n->outputs[0]) == p.encoding_owner(n->inputs[0]));
      }
    for (const Node* sm : nodes_of(m, "Softmax")) CHECK(p.find_activation(sm->outputs[0]));
    if (opset == 17) {
      for (const Node* ln : nodes_of(m, "LayerNormalization")) {
        CHECK(p.find_activation(ln->outputs[0]) != nullptr);
        const ParamQuantizer* scale = p.find_param(ln->inputs[1]);
        REQUIRE(scale != nullptr);
        CHECK(scale->role == TensorRole::kWeight);
        CHECK(p.find_param(ln->inputs[2]) == nullptr);  // biases stay float by default
      }
    }
  }
}

TEST_CASE("qsim_extensions: QNN's fixed Softmax grid at 8 and 16 bits") {
  const QuantSimConfig c = parse_quantsim_config(
      R"({"qsim_extensions": {"qnn_fixed_softmax_encoding": "True",
                              "fuse_decomposed_patterns": false}})",
      "ext.json");
  CHECK(c.qnn_fixed_softmax_encoding);
  CHECK_FALSE(c.fuse_decomposed_patterns);
  CHECK(failure_of([] { parse_quantsim_config(R"({"qsim_extensions": {"fuse": true}})", "x"); }) ==
        ErrorCode::kInvalidArgument);

  QuantSimConfig config = default_quantsim_config(true);
  config.qnn_fixed_softmax_encoding = true;
  for (int bits : {8, 16}) {
    QuantSimOptions o;
    o.config = config;
    o.activation_bitwidth = bits;
    QuantSim sim(vit(17), o);
    sim.calibrate(testdata::train_batches(0, 20, 10), nullptr);
    const EncodingSet set = sim.encodings();
    for (const Node* sm : nodes_of(vit(17), "Softmax")) {
      const TensorEncoding* e = set.find(sm->outputs[0]);
      REQUIRE(e != nullptr);
      REQUIRE(e->encoding.has_value());
      CHECK(e->encoding->channels.at(0).scale == static_cast<float>(std::ldexp(1.0, -bits)));
      CHECK(e->encoding->channels.at(0).offset == 0);
    }
  }
}

TEST_CASE("AdaRound takes every ViT MatMul weight, with each token a position") {
  const Model& m = vit(17);
  std::set<std::string> weights;
  for (const Node* mm : nodes_of(m, "MatMul"))
    if (m.graph.is_initializer(mm->inputs[1])) weights.insert(mm->inputs[1]);
  REQUIRE(weights.size() == 12);
  const LayerSearch search = find_adaround_layers(m, weights);
  CHECK(search.notes.empty());
  REQUIRE(search.layers.size() == 12);
  for (const auto& layer : search.layers) {
    const Tensor& w = *m.graph.find_initializer(layer->weight());
    CHECK(layer->shape().rows == w.dim(1));   // output features
    CHECK(layer->shape().depth == w.dim(0));  // input features
    // [N, T, C] activations: one sample per image, T = 16 token positions in it.
    layer->bind({2, 16, w.dim(0)});
    CHECK(layer->shape().positions == 16);
    Tensor x = pattern({2, 16, w.dim(0)});
    CHECK(layer->samples_in(x) == 2);
    std::vector<float> rows(static_cast<size_t>(w.dim(0) * 16));
    layer->lower_input(x, 1, rows.data(), 16);
    // Column p of the lowered sample is token p of image 1.
    CHECK(rows[static_cast<size_t>(3 * 16 + 5)] == x.data<float>()[(16 + 5) * w.dim(0) + 3]);
  }
}

TEST_CASE("ViT QDQ export: DQ on both attention inputs, one grid through data movement") {
  QuantSimOptions o;
  o.per_channel = true;
  QuantSim sim(vit(13), o);
  sim.calibrate(testdata::train_batches(0, 20, 10), nullptr);
  const Model qdq = build_qdq_model(sim.float_model(), sim.encodings()).model;
  std::map<std::string, const Node*> producer;
  for (const Node& n : qdq.graph.nodes)
    for (const auto& out : n.outputs) producer[out] = &n;
  const auto made_by = [&](const std::string& tensor) -> std::string {
    auto it = producer.find(tensor);
    return it == producer.end() ? "" : it->second->op_type;
  };
  // The scale initializer of the DequantizeLinear that yields `tensor`.
  const auto dq_scale = [&](const std::string& tensor) {
    const Node* dq = producer.at(tensor);
    return qdq.graph.find_initializer(dq->inputs[1])->data<float>()[0];
  };
  int attention = 0;
  for (const Node& n : qdq.graph.nodes) {
    if (n.op_type == "MatMul") {
      CHECK(made_by(n.inputs[0]) == "DequantizeLinear");
      CHECK(made_by(n.inputs[1]) == "DequantizeLinear");
      const Node* b = producer.at(n.inputs[1]);
      attention += !qdq.graph.is_initializer(b->inputs[0]);  // an activation's DQ, not a weight's
    }
    // Transpose and Reshape: re-quantized on exactly their input's grid, so that ONNX Runtime
    // can drop the pair.
    if (n.op_type == "Transpose" || n.op_type == "Reshape") {
      REQUIRE(made_by(n.inputs[0]) == "DequantizeLinear");
      bool requantized = false;
      for (const Node& q : qdq.graph.nodes)
        if (q.op_type == "QuantizeLinear" && q.inputs[0] == n.outputs[0]) {
          requantized = true;
          CHECK(qdq.graph.find_initializer(q.inputs[1])->data<float>()[0] == dq_scale(n.inputs[0]));
        }
      CHECK(requantized);
    }
    // Nothing inside a decomposed LayerNorm or a GELU is quantized.
    if (n.op_type == "Sqrt" || n.op_type == "Pow" || n.op_type == "Erf")
      for (const Node& q : qdq.graph.nodes)
        CHECK_FALSE((q.op_type == "QuantizeLinear" && q.inputs[0] == n.outputs[0]));
    if (n.op_type == "Softmax")
      for (const Node& q : qdq.graph.nodes)
        if (q.op_type == "QuantizeLinear" && q.inputs[0] == n.outputs[0])
          CHECK(qdq.graph.find_initializer(q.inputs[1])->data<float>()[0] == 1.0f / 256);
  }
  CHECK(attention == 4);
}

TEST_CASE("Gather of an embedding table quantizes the table as a weight") {
  Tensor table(DType::kFloat32, {5, 4});
  for (int64_t i = 0; i < 20; ++i) table.data<float>()[i] = 0.1f * static_cast<float>(i - 7);
  auto model = one_node("Gather", 13, {"table", "ids"}, {}, {{"table", table}});
  model->graph.inputs.at(0).dtype = DType::kInt64;
  const QuantizerPlacement p = place_quantizers(*model, default_quantsim_config(true), {});
  const ParamQuantizer* w = p.find_param("table");
  REQUIRE(w != nullptr);
  CHECK(w->role == TensorRole::kWeight);
  CHECK(w->axis == -1);                        // per tensor
  CHECK(p.find_activation("ids") == nullptr);  // integer indices are not quantized
  CHECK(p.find_activation("y") != nullptr);

  // A Gather of an activation has no parameter; its output shares the input's grid.
  auto of_activation = one_node("Gather", 13, {"x", "ids"}, {{"axis", Attribute::of_int(1)}},
                                {{"ids", make_tensor<int64_t>({2}, {0, 2})}});
  const QuantizerPlacement q = place_quantizers(*of_activation, default_quantsim_config(true), {});
  CHECK(q.params.empty());
  CHECK(q.encoding_owner("y") == "x");

  // The QDQ model stores the table as int8 behind a DequantizeLinear.
  QuantSim sim(*model, QuantSimOptions{});
  auto batches = std::make_shared<int>(0);
  sim.calibrate(
      [batches](std::vector<Tensor>& out) {
        if ((*batches)++ == 2) return false;
        out = {make_tensor<int64_t>({2, 3}, {0, 1, 2, 3, 4, 1})};
        return true;
      },
      nullptr);
  const Model qdq = build_qdq_model(sim.float_model(), sim.encodings()).model;
  bool table_dequantized = false;
  for (const Node& n : qdq.graph.nodes)
    if (n.op_type == "DequantizeLinear" && n.outputs[0] == "table") {
      table_dequantized = true;
      CHECK(qdq.graph.find_initializer(n.inputs[0])->dtype() == DType::kInt8);
    }
  CHECK(table_dequantized);
  const Tensor y = sim.run_quantized({make_tensor<int64_t>({1, 2}, {4, 0})}).at(0);
  CHECK(y.shape() == Shape{1, 2, 4});
  CHECK(y.data<float>()[0] == Approx(0.9f).margin(0.02));  // table[4][0] = 0.1 * (16 - 7)
}
