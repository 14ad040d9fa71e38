// AdaRound and AdaQuant on QuantSim (src/techniques/adaround.h): accuracy on a reference model
// with real Fashion-MNIST data, weights on their grids with encodings unchanged, determinism,
// layers it skips, and bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include "io/encodings_fbs.h"
#include "techniques/adaround.h"
#include "techniques/model_transforms.h"
#include "test_quantsim_data.h"
#include "util/error.h"

using namespace qsim;

namespace {

// The first `count` training images in batches of 64.
BatchReader train_reader(int64_t count) {
  return testdata::train_batches(0, count, 64);
}

// Top-1 in percent of the quantized simulation on the first `count` test images.
double quantized_top1(QuantSim& sim, int64_t count) {
  return testdata::test_top1([&](const std::vector<Tensor>& in) { return sim.run_quantized(in); },
                             count);
}

QuantSimOptions w4a8_per_channel(int threads = 1) {
  QuantSimOptions o;
  o.transforms = {fold_batch_norm_transform};
  o.weight_bitwidth = 4;
  o.per_channel = true;
  o.activation_method = CalibrationMethod::kMinMax;
  o.num_threads = threads;
  return o;
}

std::unique_ptr<QuantSim> calibrated(const std::string& file, int threads = 1) {
  auto sim = std::make_unique<QuantSim>(load_onnx_file(testdata::model_path(file)),
                                        w4a8_per_channel(threads));
  sim->calibrate(train_reader(256), nullptr);
  return sim;
}

AdaRoundOptions quick(int64_t iterations, int64_t samples) {
  AdaRoundOptions o;
  o.iterations = iterations;
  o.adaquant.iterations = iterations;
  o.samples = samples;
  o.num_threads = 1;
  return o;
}

ErrorCode error_code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // no error: the checks below fail
}

// Every weight and bias of the prepared model, and the encodings file: what an export holds.
std::string exported_bytes(const QuantSim& sim) {
  std::string bytes = encodings_fbs_bytes(sim.encodings(), "test");
  for (const auto& [name, tensor] : sim.prepared_model().graph.initializers)
    if (tensor.dtype() == DType::kFloat32)
      bytes.append(static_cast<const char*>(tensor.raw()), tensor.byte_size());
  return bytes;
}

bool on_grid(const Tensor& t, const Encoding& enc) {
  Tensor copy = t.clone();
  fake_quantize(copy, enc);
  return std::equal(copy.data<float>(), copy.data<float>() + copy.size(), t.data<float>());
}

}  // namespace

TEST_CASE("AdaRound beats nearest rounding on resnet W4A8 per channel; weights stay on grid") {
  auto sim = calibrated("resnet_fmnist.onnx");
  const EncodingSet before = sim->encodings();
  const double nearest = quantized_top1(*sim, 1000);
  AdaRoundOptions options = quick(250, 192);
  std::vector<int64_t> done;
  const AdaRoundReport report = adaround(*sim, train_reader(1000), options,
                                         [&](int64_t d, int64_t total, const std::string&) {
                                           CHECK(total == 10 * 250);
                                           if (done.empty() || done.back() != d) done.push_back(d);
                                           return true;
                                         });
  const double rounded = quantized_top1(*sim, 1000);
  std::printf(
      "resnet W4A8 per-channel, 1000 test images: nearest %.1f %%, AdaRound (250 "
      "iterations, 192 samples) %.1f %%\n",
      nearest, rounded);
  CHECK(rounded > nearest);
  CHECK(done.back() == 10 * 250);
  CHECK(report.samples == 192);
  REQUIRE(report.layers.size() == 10);  // 9 Conv and the Gemm
  CHECK(report.notes.empty());
  double nearest_loss = 0.0, final_loss = 0.0;
  for (const AdaRoundLayerReport& layer : report.layers) {
    nearest_loss += layer.nearest_loss;
    final_loss += layer.final_loss;
    CHECK(layer.iterations == 250);
    CHECK(layer.second_moments == (layer.activation == "identity"));
  }
  CHECK(final_loss < nearest_loss);

  // Encodings exactly as before, weights on them, and the technique recorded.
  const EncodingSet after = sim->encodings();
  CHECK(after.params == before.params);
  CHECK(after.activations == before.activations);
  int64_t changed = 0;
  for (const TensorEncoding& p : after.params) {
    if (p.role != TensorRole::kWeight) continue;
    const Tensor& w = *sim->prepared_model().graph.find_initializer(p.name);
    CHECK(on_grid(w, *p.encoding));
    CHECK(on_grid(*sim->float_model().graph.find_initializer(p.name), *p.encoding));
    Tensor nearest_w = sim->original_float_model().graph.find_initializer(p.name)->clone();
    fake_quantize(nearest_w, *p.encoding);
    for (int64_t i = 0; i < w.size(); ++i)
      changed += w.data<float>()[i] != nearest_w.data<float>()[i];
  }
  CHECK(changed > 0);
  REQUIRE(after.techniques.size() == 2);
  CHECK(after.techniques[1].name == "adaround");
  CHECK(after.techniques[1].options.at("iterations") == "250");
  CHECK(after.techniques[1].options.at("regularization") == "0.01");
  CHECK(after.techniques[1].options.at("samples") == "192");
}

TEST_CASE("the same seed gives the same bytes for 1 or 2 threads and any memory budget") {
  auto run = [](int threads, int64_t budget, uint64_t seed) {
    auto sim = calibrated("resnet_fmnist.onnx", threads);
    AdaRoundOptions options = quick(20, 64);
    options.num_threads = threads;
    options.memory_budget_bytes = budget;
    options.seed = seed;
    adaround(*sim, train_reader(64), options, nullptr);
    return exported_bytes(*sim);
  };
  const std::string reference = run(1, int64_t{1} << 30, 5);
  CHECK(run(1, int64_t{1} << 30, 5) == reference);
  CHECK(run(2, int64_t{1} << 30, 5) == reference);
  CHECK(run(2, 0, 5) == reference);  // every cache on file
  CHECK(run(1, int64_t{1} << 30, 6) != reference);
}

TEST_CASE("AdaQuant trains weights on their grid, and biases on request") {
  auto sim = calibrated("mobilenet_fmnist.onnx");
  const EncodingSet before = sim->encodings();
  AdaRoundOptions options = quick(40, 64);
  options.mode = AdaRoundMode::kAdaQuant;
  options.adaquant.learning_rate = 1e-3;
  options.adaquant.train_bias = true;
  options.adaquant.early_stop = true;
  const AdaRoundReport report = adaround(*sim, train_reader(64), options, nullptr);
  REQUIRE(report.layers.size() == 18);  // 17 Conv and the Gemm
  double nearest_loss = 0.0, final_loss = 0.0;
  for (const AdaRoundLayerReport& layer : report.layers) {
    nearest_loss += layer.nearest_loss;
    final_loss += layer.final_loss;
    CHECK(layer.iterations <= 40);
  }
  CHECK(final_loss < nearest_loss);
  const EncodingSet after = sim->encodings();
  CHECK(after.params == before.params);
  REQUIRE(after.techniques.back().name == "adaquant");
  CHECK(after.techniques.back().options.at("train_bias") == "true");
  for (const TensorEncoding& p : after.params)
    if (p.role == TensorRole::kWeight)
      CHECK(on_grid(*sim->float_model().graph.find_initializer(p.name), *p.encoding));
  int64_t biases_changed = 0;
  for (const Node& node : sim->original_float_model().graph.nodes) {
    if (node.op_type != "Conv" || !node.has_input(2)) continue;
    const Tensor& tuned = *sim->float_model().graph.find_initializer(node.inputs[2]);
    const Tensor& original = *sim->original_float_model().graph.find_initializer(node.inputs[2]);
    biases_changed += !std::equal(tuned.data<float>(), tuned.data<float>() + tuned.size(),
                                  original.data<float>());
  }
  CHECK(biases_changed == 17);
  CHECK(quantized_top1(*sim, 250) > 50.0);
}

TEST_CASE("a layer AdaRound does not support is skipped with a note") {
  // x -> Conv -> PRelu (its slope is a quantized weight) -> Conv: the PRelu is left out.
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back({"x", DType::kFloat32, 1, std::nullopt});
  g.outputs.push_back({"y", DType::kFloat32, 1, std::nullopt});
  auto values = [](Shape shape, float step) {
    Tensor t(DType::kFloat32, std::move(shape));
    for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = std::sin(step * (i + 1));
    return t;
  };
  g.initializers["w1"] = values({4, 1, 3, 3}, 0.7f);
  g.initializers["slope"] = values({4, 1, 1}, 0.3f);
  g.initializers["w2"] = values({2, 4, 1, 1}, 0.5f);
  auto node = [](std::string op, std::vector<std::string> in, std::string out) {
    Node n;
    n.op_type = op;
    n.name = op + "_" + out;
    n.inputs = std::move(in);
    n.outputs = {std::move(out)};
    return n;
  };
  g.nodes = {node("Conv", {"x", "w1"}, "a"), node("PRelu", {"a", "slope"}, "b"),
             node("Conv", {"b", "w2"}, "y")};
  QuantSim sim(m, w4a8_per_channel());
  auto reader = [](int64_t count) -> BatchReader {
    auto given = std::make_shared<bool>(false);
    return [given, count](std::vector<Tensor>& batch) {
      if (*given) return false;
      *given = true;
      batch = {testdata::train_images(0, count)};
      return true;
    };
  };
  sim.calibrate(reader(16), nullptr);
  const AdaRoundReport report = adaround(sim, reader(16), quick(20, 16), nullptr);
  REQUIRE(report.layers.size() == 2);
  CHECK(report.layers[0].activation == "PRelu");
  REQUIRE(report.notes.size() == 1);
  CHECK(report.notes[0].find("PRelu 'PRelu_b' skipped") != std::string::npos);
  const std::vector<std::string> notes = sim.notes();
  CHECK(std::find(notes.begin(), notes.end(), report.notes[0]) != notes.end());
}

TEST_CASE("bad input fails clearly and leaves the session unchanged and usable") {
  auto sim = std::make_unique<QuantSim>(load_onnx_file(testdata::model_path("resnet_fmnist.onnx")),
                                        w4a8_per_channel());
  CHECK(error_code_of([&] { adaround(*sim, train_reader(64), quick(5, 64), nullptr); }) ==
        ErrorCode::kState);
  sim->calibrate(train_reader(128), nullptr);
  const std::string before = exported_bytes(*sim);
  const std::vector<Tensor> input = {testdata::test_images(0, 8)};
  const Tensor logits = sim->run_quantized(input).at(0);

  CHECK(error_code_of([&] { adaround(*sim, train_reader(64), quick(0, 64), nullptr); }) ==
        ErrorCode::kInvalidArgument);
  CHECK(error_code_of([&] { adaround(*sim, train_reader(64), quick(5, 0), nullptr); }) ==
        ErrorCode::kInvalidArgument);
  CHECK(error_code_of([&] { adaround(*sim, train_reader(0), quick(5, 64), nullptr); }) ==
        ErrorCode::kInvalidArgument);
  AdaRoundOptions bad_beta = quick(5, 64);
  bad_beta.warm_start = 1.0;
  CHECK(error_code_of([&] { adaround(*sim, train_reader(64), bad_beta, nullptr); }) ==
        ErrorCode::kInvalidArgument);
  // Cancelled in the third layer's iterations.
  int64_t last = 0;
  CHECK(error_code_of([&] {
          adaround(*sim, train_reader(64), quick(5, 64),
                   [&](int64_t done, int64_t, const std::string&) {
                     last = done;
                     return done < 12;
                   });
        }) == ErrorCode::kCancelled);
  CHECK(last == 12);
  CHECK(exported_bytes(*sim) == before);
  const Tensor again = sim->run_quantized(input).at(0);
  CHECK(std::equal(again.data<float>(), again.data<float>() + again.size(), logits.data<float>()));
  adaround(*sim, train_reader(64), quick(5, 64), nullptr);
  CHECK(exported_bytes(*sim) != before);
}
