#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "graph/bn_fold.h"
#include "graph/onnx_import.h"
#include "quant/qdq_export.h"
#include "quant/quantsim.h"
#include "runtime/engine.h"
#include "techniques/model_transforms.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

const std::string kConformance = "/usr/share/libonnx-testdata/data/node/";

std::shared_ptr<Model> conformance_model(const std::string& test) {
  return std::make_shared<Model>(load_onnx_file(kConformance + test + "/model.onnx"));
}

}  // namespace

TEST_CASE("an input whose shape does not fit the model is rejected with both shapes") {
  auto model = conformance_model("test_relu");  // x: float[3,4,5]
  Engine engine(model);
  Tensor wrong(DType::kFloat32, {3, 4, 6});
  REQUIRE_THROWS_WITH(engine.run({wrong}),
                      Catch::Contains("[3,4,6]") && Catch::Contains("[3,4,5]"));
  Tensor wrong_type(DType::kInt64, {3, 4, 5});
  REQUIRE_THROWS_WITH(engine.run({wrong_type}), Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(engine.run({}), Catch::Contains("1 inputs, 0 given"));
}

TEST_CASE("NaN inputs propagate without crashing") {
  auto model = conformance_model("test_sigmoid");
  Engine engine(model);
  Tensor x(DType::kFloat32, {3, 4, 5});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = i % 2 ? NAN : 0.5f;
  Tensor y = engine.run({x})[0];
  CHECK(std::isnan(y.data<float>()[1]));
  CHECK_FALSE(std::isnan(y.data<float>()[0]));
}

namespace {

std::shared_ptr<const Model> reference_model(const std::string& file) {
  return std::make_shared<const Model>(load_onnx_file(testdata::model_path(file)));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), b.byte_size()) == 0;
}

// max |a - b| <= tolerance * max |b|.
bool relative_difference_below(const Tensor& a, const Tensor& b, double tolerance) {
  double largest = 0.0, difference = 0.0;
  for (int64_t i = 0; i < b.size(); ++i) {
    largest = std::max(largest, std::fabs(double{b.data<float>()[i]}));
    difference =
        std::max(difference, std::fabs(double{a.data<float>()[i]} - double{b.data<float>()[i]}));
  }
  return a.shape() == b.shape() && difference <= tolerance * largest;
}

}  // namespace

// Two threads call sgemm at once; a BLAS without locking corrupts results now and then, so
// the check repeats the run.
TEST_CASE("reference models give bit-identical results with 1 and 2 threads, run after run") {
  const Tensor images = testdata::test_images(0, 64);
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    auto model = reference_model(file);
    Engine serial(model, EngineOptions{1});
    Engine parallel(model, EngineOptions{2});
    const Tensor expected = serial.run({images})[0];
    int differing_runs = 0;
    for (int run = 0; run < 30; ++run) {
      const Tensor got = parallel.run({images})[0];
      differing_runs += std::memcmp(got.raw(), expected.raw(), expected.byte_size()) != 0;
    }
    CHECK(differing_runs == 0);
  }
}

// A QDQ model's Conv weights are constants each plan folds for itself (DequantizeLinear of an
// initializer); the plans of a sliced run execute at once, and the Conv kernel's cache of
// packed weights once let one plan's packing replace what another was reading.
TEST_CASE("QDQ models give bit-identical results with 1 and 2 threads, run after run") {
  const Tensor images = testdata::test_images(0, 64);
  for (const std::string& file : testdata::reference_models()) {
    for (int activation_bits : {8, 16}) {
      INFO(file << ", " << activation_bits << "-bit activations");
      QuantSimOptions options;
      options.transforms = {fold_batch_norm_transform};
      options.per_channel = true;
      options.activation_bitwidth = activation_bits;
      QuantSim sim(*reference_model(file), options);
      sim.calibrate(testdata::train_batches(0, 64, 64), nullptr);
      const auto qdq =
          std::make_shared<const Model>(build_qdq_model(sim.float_model(), sim.encodings()).model);
      Engine serial(qdq, EngineOptions{1});
      Engine parallel(qdq, EngineOptions{2});
      const Tensor expected = serial.run({images})[0];
      int differing_runs = 0;
      for (int run = 0; run < 30; ++run)
        differing_runs += !same_bits(parallel.run({images})[0], expected);
      CHECK(differing_runs == 0);
      // And the simulation it was exported from.
      CHECK(relative_difference_below(sim.run_quantized({images})[0], expected, 1e-3));
    }
  }
}

// The plans of a short last batch and of a full one share one arena, which grows (and moves)
// when the larger plan first runs; each must give the bits a fresh engine gives.
TEST_CASE("plans of different batch sizes share one arena without changing results") {
  const Tensor part = testdata::test_images(0, 16);
  const Tensor full = testdata::test_images(16, 64);
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    auto model = reference_model(file);
    const Tensor expected_part = Engine(model).run({part}).at(0);
    const Tensor expected_full = Engine(model).run({full}).at(0);
    Engine engine(model);
    for (int round = 0; round < 2; ++round) {
      CHECK(same_bits(engine.run({part}).at(0), expected_part));
      CHECK(same_bits(engine.run({full}).at(0), expected_full));
    }
  }
}

namespace {

// Runs `engine` and counts the nodes its hooks report.
Tensor run_counting(Engine& engine, const Tensor& images, size_t* reported) {
  *reported = 0;
  RunHooks hooks;
  hooks.after_node = [&](size_t, const Node&, const std::vector<const Tensor*>&,
                         const std::vector<Tensor*>&) { ++*reported; };
  return engine.run({images}, hooks).at(0);
}

}  // namespace

// Folding BatchNormalization rounds differently; fusing activations and Adds into FusedConv
// must change nothing, so once batch norms are folded (as QuantSim folds them) the fused and
// the unfused graph agree bit for bit.
TEST_CASE("fused layers give the bits of the graph as it is once batch norms are folded") {
  const Tensor images = testdata::test_images(0, 64);
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    auto folded = std::make_shared<const Model>(fold_batch_norms(*reference_model(file)).model);
    Engine fused(folded, EngineOptions{2, true});
    Engine unfused(folded, EngineOptions{2, false});
    size_t fused_nodes = 0, unfused_nodes = 0;
    const Tensor expected = run_counting(unfused, images, &unfused_nodes);
    const Tensor got = run_counting(fused, images, &fused_nodes);
    CHECK(std::memcmp(got.raw(), expected.raw(), expected.byte_size()) == 0);
    CHECK(unfused_nodes == folded->graph.nodes.size());
    CHECK(fused_nodes == fused.model().graph.nodes.size());
    CHECK(fused_nodes < unfused_nodes);
  }
}

TEST_CASE("fused reference models stay within 1e-5 of the unfused graph, top-1 for top-1") {
  const Tensor images = testdata::test_images(0, 256);
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    auto model = reference_model(file);
    const Tensor fused = Engine(model, EngineOptions{1, true}).run({images}).at(0);
    const Tensor unfused = Engine(model, EngineOptions{1, false}).run({images}).at(0);
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < fused.size(); ++i) {
      diff = std::max(
          diff, std::fabs(static_cast<double>(fused.data<float>()[i]) - unfused.data<float>()[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(unfused.data<float>()[i])));
    }
    CHECK(diff / scale < 1e-5);
    for (int64_t row = 0; row < images.dim(0); ++row)
      CHECK(testdata::argmax_row(fused, row) == testdata::argmax_row(unfused, row));
  }
}

TEST_CASE("fusion leaves a Conv whose output is a graph output or read twice as it is") {
  auto model = std::make_shared<Model>();
  model->opset = 13;
  Tensor w(DType::kFloat32, {2, 1, 1, 1});
  w.data<float>()[0] = 1.5f;
  w.data<float>()[1] = -0.5f;
  model->graph.initializers["w"] = w;
  auto node = [](const std::string& op, std::vector<std::string> inputs, std::string output) {
    Node n;
    n.name = output;
    n.op_type = op;
    n.inputs = std::move(inputs);
    n.outputs = {std::move(output)};
    return n;
  };
  // c1 is a graph output; c2 is read by the Relu and by the Add.
  model->graph.nodes = {node("Conv", {"x", "w"}, "c1"), node("Relu", {"c1"}, "r1"),
                        node("Conv", {"x", "w"}, "c2"), node("Relu", {"c2"}, "r2"),
                        node("Add", {"c2", "r2"}, "y")};
  model->graph.inputs.push_back({"x", DType::kFloat32, 0, {}});
  for (const char* out : {"c1", "r1", "y"})
    model->graph.outputs.push_back({out, DType::kUndefined, 0, {}});
  Engine fused(model, EngineOptions{1, true});
  CHECK(fused.model().graph.nodes.size() == model->graph.nodes.size());
  Tensor x(DType::kFloat32, {1, 1, 4, 4});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(i % 5) - 2.0f;
  const auto got = fused.run({x});
  const auto expected = Engine(model, EngineOptions{1, false}).run({x});
  for (size_t o = 0; o < got.size(); ++o)
    CHECK(std::memcmp(got[o].raw(), expected[o].raw(), expected[o].byte_size()) == 0);
}
