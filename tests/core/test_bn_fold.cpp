// Batch-norm folding (src/graph/bn_fold.h) on the reference models and small graphs.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>

#include "graph/bn_fold.h"
#include "runtime/engine.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

Tensor run_model(const Model& model, const Tensor& input) {
  Engine engine(std::make_shared<const Model>(model),
                EngineOptions{.num_threads = 1, .fuse_layers = false});
  return engine.run({input}).at(0);
}

// max |a - b| / max |b|
double relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b.data<float>()[i])));
  }
  return diff / scale;
}

Tensor vector_of(std::vector<float> values) {
  Tensor t(DType::kFloat32, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor counting_tensor(Shape shape, float step) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<float>()[i] = std::sin(step * static_cast<float>(i + 1));
  return t;
}

Node make_node(std::string op, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  Node n;
  n.op_type = std::move(op);
  n.name = n.op_type + "_" + outputs.at(0);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

// x -> <layer> (weight w, no bias) -> BatchNormalization -> y, with 3 output channels.
Model layer_then_batch_norm(const std::string& op, Tensor weight,
                            std::map<std::string, Attribute> attributes = {}) {
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back({"x", DType::kFloat32, 1, std::nullopt});
  g.outputs.push_back({"y", DType::kFloat32, 1, std::nullopt});
  g.initializers["w"] = std::move(weight);
  g.initializers["gamma"] = vector_of({1.5f, -0.5f, 2.0f});
  g.initializers["beta"] = vector_of({0.1f, 0.2f, -0.3f});
  g.initializers["mean"] = vector_of({0.05f, -0.4f, 0.3f});
  g.initializers["var"] = vector_of({0.9f, 2.5f, 0.01f});
  Node layer = make_node(op, {"x", "w"}, {"h"});
  layer.attributes = std::move(attributes);
  g.nodes.push_back(layer);
  g.nodes.push_back(make_node("BatchNormalization", {"h", "gamma", "beta", "mean", "var"}, {"y"}));
  return m;
}

void check_fold_preserves_outputs(const Model& model, const Tensor& input) {
  BatchNormFoldResult r = fold_batch_norms(model);
  REQUIRE(r.folded.size() == 1);
  CHECK(r.model.graph.nodes.size() == 1);
  CHECK(r.model.graph.nodes[0].outputs[0] == "y");
  CHECK(r.model.graph.nodes[0].inputs.size() == 3);  // a bias was added
  CHECK_FALSE(r.model.graph.is_initializer("gamma"));
  CHECK(relative_difference(run_model(r.model, input), run_model(model, input)) < 1e-5);
}

}  // namespace

TEST_CASE("folding keeps both reference models' outputs on real images") {
  const Tensor images = testdata::test_images(0, 64);
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    const Model model = load_onnx_file(testdata::model_path(file));
    const int64_t batch_norms = model.op_counts().at("BatchNormalization");
    BatchNormFoldResult r = fold_batch_norms(model);
    CHECK(static_cast<int64_t>(r.folded.size()) == batch_norms);
    CHECK(r.skipped.empty());
    CHECK(r.model.op_counts().count("BatchNormalization") == 0);
    CHECK(r.model.graph.nodes.size() == model.graph.nodes.size() - batch_norms);
    // Every tensor name downstream of a fold survives: all folded layers write the BN output.
    for (const FoldedBatchNorm& f : r.folded) {
      const Node* bn = nullptr;
      for (const Node& n : model.graph.nodes)
        if (n.name == f.batch_norm) bn = &n;
      REQUIRE(bn != nullptr);
      bool written = false;
      for (const Node& n : r.model.graph.nodes)
        written = written || (n.name == f.layer && n.outputs[0] == bn->outputs[0]);
      CHECK(written);
    }
    // The source model is untouched (copies share tensor buffers).
    CHECK(model.op_counts().at("BatchNormalization") == batch_norms);
    CHECK(relative_difference(run_model(r.model, images), run_model(model, images)) < 1e-5);
  }
}

TEST_CASE("Conv, ConvTranspose and Gemm fold on their output-channel axes") {
  SECTION("Conv without a bias") {
    Model m = layer_then_batch_norm("Conv", counting_tensor({3, 2, 3, 3}, 0.37f));
    check_fold_preserves_outputs(m, counting_tensor({2, 2, 5, 5}, 0.11f));
  }
  SECTION("grouped ConvTranspose") {
    // Weight [Cin 2, Cout/group 3, k] with 1 group, then 3 groups of [1 in, 1 out].
    Model m = layer_then_batch_norm("ConvTranspose", counting_tensor({2, 3, 2, 2}, 0.29f));
    check_fold_preserves_outputs(m, counting_tensor({2, 2, 4, 4}, 0.13f));
    Model grouped = layer_then_batch_norm("ConvTranspose", counting_tensor({3, 1, 2, 2}, 0.31f),
                                          {{"group", Attribute::of_int(3)}});
    check_fold_preserves_outputs(grouped, counting_tensor({2, 3, 4, 4}, 0.17f));
  }
  SECTION("Gemm with B as [K, N] and as [N, K]") {
    Model kn = layer_then_batch_norm("Gemm", counting_tensor({4, 3}, 0.23f));
    check_fold_preserves_outputs(kn, counting_tensor({5, 4}, 0.19f));
    Model nk = layer_then_batch_norm("Gemm", counting_tensor({3, 4}, 0.23f),
                                     {{"transB", Attribute::of_int(1)}});
    check_fold_preserves_outputs(nk, counting_tensor({5, 4}, 0.19f));
  }
}

TEST_CASE("batch norms that cannot fold are left in place with a reason") {
  SECTION("the layer output has another reader") {
    Model m = layer_then_batch_norm("Conv", counting_tensor({3, 2, 3, 3}, 0.37f));
    m.graph.outputs.push_back({"h", DType::kFloat32, 1, std::nullopt});
    BatchNormFoldResult r = fold_batch_norms(m);
    CHECK(r.folded.empty());
    REQUIRE(r.skipped.size() == 1);
    CHECK(r.skipped[0].find("other readers") != std::string::npos);
    CHECK(r.model.graph.nodes.size() == 2);
  }
  SECTION("the producer is not a linear layer") {
    Model m = layer_then_batch_norm("Conv", counting_tensor({3, 2, 3, 3}, 0.37f));
    m.graph.nodes[0] = make_node("Relu", {"x"}, {"h"});
    BatchNormFoldResult r = fold_batch_norms(m);
    CHECK(r.folded.empty());
    REQUIRE(r.skipped.size() == 1);
    CHECK(r.skipped[0].find("Relu") != std::string::npos);
  }
}
