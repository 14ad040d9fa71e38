// Cross-layer equalization (src/techniques/cross_layer_equalization.h) on the reference models
// and on a ResNet whose channels were rescaled so that per-tensor weight grids fail it.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "fmnist_data.h"
#include "graph/bn_fold.h"
#include "graph/onnx_export.h"
#include "io/npy.h"
#include "ort_process.h"
#include "single_op_model.h"
#include "techniques/cross_layer_equalization.h"
#include "techniques/model_transforms.h"
#include "techniques/smooth_quant.h"
#include "temp_path.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

Model folded(const std::string& file) {
  return fold_batch_norms(load_onnx_file(testdata::model_path(file))).model;
}

std::vector<Tensor> run_float(const Model& model, const Tensor& images) {
  QuantSimOptions o;
  QuantSim sim(model, o);
  return sim.run_float({images});
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  double d = 0.0;
  for (int64_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
  return d;
}

// max |a - b| over the largest |a|.
double relative_difference(const Tensor& a, const Tensor& b) {
  double largest = 0.0;
  for (int64_t i = 0; i < a.size(); ++i)
    largest = std::max(largest, double(std::fabs(a.data<float>()[i])));
  return max_abs_difference(a, b) / largest;
}

const Node& node_named(const Model& m, const std::string& name) {
  for (const Node& n : m.graph.nodes)
    if (n.name == name) return n;
  FAIL("no node " << name);
  throw 0;
}

double per_tensor_w8a8_top1(const Model& model, std::vector<ModelTransform> transforms) {
  QuantSimOptions o;
  o.transforms = std::move(transforms);
  o.per_channel = false;
  o.activation_method = CalibrationMethod::kMinMax;
  QuantSim sim(model, o);
  sim.calibrate(testdata::train_batches(0, 500, 100), nullptr);
  return testdata::test_top1([&](const std::vector<Tensor>& in) { return sim.run_quantized(in); },
                             1000);
}

}  // namespace

TEST_CASE("CLE keeps the ResNet's function and equalizes each pair's channel ranges", "[cle]") {
  const Model model = folded("resnet_fmnist.onnx");
  const TransformOutcome out = equalize_cross_layer(model, {});
  REQUIRE(out.record.name == "cle");
  // conv1 -> Relu -> conv2 in each of the three blocks.
  CHECK(out.record.options.at("pairs") == "3");
  CHECK(out.record.options.at("relu6_replaced") == "0");
  const Tensor images = testdata::test_images(0, 64);
  const Tensor before = run_float(model, images).at(0);
  const Tensor after = run_float(out.model, images).at(0);
  CHECK(max_abs_difference(before, after) < 1e-3);
  // The caller's model is untouched (CLE works on copies of the weights).
  const Node& conv1 = node_named(model, "/layer1/conv1/conv1.0/Conv");
  CHECK(model.graph.initializers.at(conv1.inputs[1]).data<float>() !=
        out.model.graph.initializers.at(conv1.inputs[1]).data<float>());
  const Tensor& w_model = model.graph.initializers.at(conv1.inputs[1]);
  const Tensor w_again = folded("resnet_fmnist.onnx").graph.initializers.at(conv1.inputs[1]);
  CHECK(std::equal(w_model.data<float>(), w_model.data<float>() + w_model.size(),
                   w_again.data<float>()));
  REQUIRE(out.notes.size() == 3);
  CHECK(out.notes[0].find("output-channel weight ranges") != std::string::npos);
}

TEST_CASE("CLE through ReLU6 replaces it by Relu, or leaves the pair alone when told", "[cle]") {
  const Model model = folded("mobilenet_fmnist.onnx");
  CleOptions keep;
  keep.replace_relu6 = false;
  const TransformOutcome untouched = equalize_cross_layer(model, keep);
  CHECK(untouched.record.name.empty());  // every pair meets a Clip(0, 6)
  CHECK(!untouched.notes.empty());
  const TransformOutcome out = equalize_cross_layer(model, {});
  REQUIRE(out.record.name == "cle");
  // expand -> dw and dw -> project in each of the 5 blocks, stem -> expand of block 0.
  CHECK(std::stoi(out.record.options.at("pairs")) >= 10);
  CHECK(std::stoi(out.record.options.at("relu6_replaced")) >= 10);
  // Relu in place of ReLU6 changes only activations above 6: top-1 moves little.
  const double float_top1 = testdata::test_top1(
      [&](const std::vector<Tensor>& in) { return run_float(model, in.at(0)); }, 1000);
  const double cle_top1 = testdata::test_top1(
      [&](const std::vector<Tensor>& in) { return run_float(out.model, in.at(0)); }, 1000);
  CHECK(std::fabs(float_top1 - cle_top1) <= 1.0);
}

TEST_CASE("CLE converges: after it, each pair's two channel ranges agree", "[cle]") {
  const TransformOutcome out = equalize_cross_layer(tools::rescaled_resnet(7), {});
  for (const char* block : {"layer1", "layer2", "layer3"}) {
    INFO(block);
    const Node& a = node_named(out.model, std::string("/") + block + "/conv1/conv1.0/Conv");
    const Node& b = node_named(out.model, std::string("/") + block + "/conv2/conv2.0/Conv");
    const Tensor& w1 = out.model.graph.initializers.at(a.inputs[1]);
    const Tensor& w2 = out.model.graph.initializers.at(b.inputs[1]);
    const int64_t per_out = w1.size() / w1.dim(0), taps = w2.size() / (w2.dim(0) * w2.dim(1));
    for (int64_t i = 0; i < w1.dim(0); ++i) {
      double r1 = 0.0, r2 = 0.0;
      for (int64_t k = 0; k < per_out; ++k)
        r1 = std::max(r1, std::fabs(double(w1.data<float>()[i * per_out + k])));
      for (int64_t o = 0; o < w2.dim(0); ++o)
        for (int64_t t = 0; t < taps; ++t)
          r2 = std::max(r2, std::fabs(double(w2.data<float>()[(o * w2.dim(1) + i) * taps + t])));
      CHECK(r1 == Approx(r2).epsilon(1e-5));
    }
  }
}

TEST_CASE("CLE recovers per-tensor W8A8 on the rescaled models", "[cle]") {
  struct Case {
    const char* name;
    Model model;
    double float_top1;  // of the model it was rescaled from, on 1000 test images
  };
  const Model resnet = folded("resnet_fmnist.onnx");
  const Model mobilenet_relu = equalize_cross_layer(folded("mobilenet_fmnist.onnx"), {}).model;
  const auto top1 = [](const Model& m) {
    return testdata::test_top1(
        [&](const std::vector<Tensor>& in) { return run_float(m, in.at(0)); }, 1000);
  };
  Case cases[] = {
      {"rescaled ResNet", tools::rescaled_resnet(1), top1(resnet)},
      {"models/mobilenet_rescaled_fmnist.onnx",
       load_onnx_file(testdata::model_path("mobilenet_rescaled_fmnist.onnx")),
       top1(mobilenet_relu)},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(std::fabs(top1(c.model) - c.float_top1) < 1e-9);
    const double broken = per_tensor_w8a8_top1(c.model, {});
    const double equalized = per_tensor_w8a8_top1(c.model, {cross_layer_equalization({})});
    INFO("per-tensor W8A8 top-1: float " << c.float_top1 << ", rescaled " << broken
                                         << ", rescaled + CLE " << equalized);
    CHECK(broken < c.float_top1 - 5.0);
    CHECK(equalized >= c.float_top1 - 1.0);
  }
}

namespace {

Tensor random_tensor(Shape shape, std::mt19937& rng, float spread) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> exponent(-spread, spread);
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<float>()[i] = normal(rng) * std::exp2(exponent(rng));
  return t;
}

Node make_node(const std::string& name, const std::string& op, std::vector<std::string> inputs,
               const std::string& output) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = {output};
  return n;
}

// x -> first (weight w1, bias b1) -> Relu -> second (weight w2) -> y, opset 13.
Model two_layers(Node first, Tensor w1, Tensor b1, Node second, Tensor w2) {
  Model m;
  m.opset = 13;
  m.ir_version = 7;
  m.graph.inputs = {{"x", DType::kFloat32, 0, std::nullopt}};
  m.graph.outputs = {{"y", DType::kFloat32, 0, std::nullopt}};
  m.graph.initializers["w1"] = std::move(w1);
  if (b1.size() > 0) m.graph.initializers["b1"] = std::move(b1);
  m.graph.initializers["w2"] = std::move(w2);
  m.graph.nodes = {std::move(first), make_node("act", "Relu", {"h"}, "a"), std::move(second)};
  return m;
}

void check_same_function(const Model& model, const Tensor& x) {
  const TransformOutcome out = equalize_cross_layer(model, {});
  REQUIRE(out.record.name == "cle");
  CHECK(out.record.options.at("pairs") == "1");
  QuantSim before(model, {}), after(out.model, {});
  const Tensor a = before.run_float({x}).at(0), b = after.run_float({x}).at(0);
  CHECK(relative_difference(a, b) <= 1e-5);
  // The weights' ranges moved: the first layer's widest channel is narrower.
  const auto widest = [](const Tensor& w) {
    double r = 0.0;
    for (int64_t i = 0; i < w.size(); ++i) r = std::max(r, double(std::fabs(w.data<float>()[i])));
    return r;
  };
  CHECK(widest(out.model.graph.initializers.at("w1")) < widest(model.graph.initializers.at("w1")));
}

}  // namespace

TEST_CASE("CLE pairs grouped Convs, Gemms either way round and MatMuls", "[cle]") {
  std::mt19937 rng(3);
  SECTION("Conv group 2 -> Relu -> Conv group 4") {
    Node c1 = make_node("c1", "Conv", {"x", "w1", "b1"}, "h");
    c1.attributes["group"] = Attribute::of_int(2);
    c1.attributes["pads"] = Attribute::of_ints({1, 1, 1, 1});
    Node c2 = make_node("c2", "Conv", {"a", "w2"}, "y");
    c2.attributes["group"] = Attribute::of_int(4);
    const Model m =
        two_layers(c1, random_tensor({8, 2, 3, 3}, rng, 4.0f), random_tensor({8}, rng, 1.0f), c2,
                   random_tensor({12, 2, 1, 1}, rng, 4.0f));
    check_same_function(m, random_tensor({2, 4, 6, 6}, rng, 0.0f));
  }
  SECTION("Gemm transB -> Relu -> Gemm") {
    Node g1 = make_node("g1", "Gemm", {"x", "w1", "b1"}, "h");
    g1.attributes["transB"] = Attribute::of_int(1);
    Node g2 = make_node("g2", "Gemm", {"a", "w2"}, "y");
    const Model m =
        two_layers(g1, random_tensor({16, 10}, rng, 4.0f), random_tensor({16}, rng, 1.0f), g2,
                   random_tensor({16, 5}, rng, 4.0f));
    check_same_function(m, random_tensor({3, 10}, rng, 0.0f));
  }
  SECTION("MatMul -> Relu -> MatMul") {
    const Model m =
        two_layers(make_node("m1", "MatMul", {"x", "w1"}, "h"), random_tensor({10, 16}, rng, 4.0f),
                   Tensor(DType::kFloat32, {0}), make_node("m2", "MatMul", {"a", "w2"}, "y"),
                   random_tensor({16, 5}, rng, 4.0f));
    check_same_function(m, random_tensor({3, 10}, rng, 0.0f));
  }
}

// ONNX Runtime's output `output` for `images` fed as `input` through `model`, written under
// `dir` as `name`.
Tensor ort_logits(const Model& model, const std::filesystem::path& dir, const std::string& name,
                  const Tensor& images, const std::string& input = "input",
                  const std::string& output = "logits") {
  std::filesystem::create_directories(dir);
  write_npy((dir / "input.npy").string(), images);
  const std::string path = (dir / (name + ".onnx")).string();
  save_onnx_file(model, path);
  tools::run_ort({"run", path, "--input", input + "=" + (dir / "input.npy").string(), "--output",
                  (dir / name).string()});
  return read_npy((dir / name / (output + ".npy")).string());
}

TEST_CASE("ONNX Runtime computes the same logits before and after CLE, on real images", "[cle]") {
  // ResNet (Relu: the same function) and the rescaled MobileNet (already Relu) against the
  // model CLE makes of each; logits within 1e-4 of the largest.
  const auto dir = test_temp_path("cle_ort");
  const Tensor images = testdata::test_images(0, 200);
  const auto ort = [&](const Model& m, const std::string& name) {
    return ort_logits(m, dir, name, images);
  };
  const Model models[] = {folded("resnet_fmnist.onnx"),
                          load_onnx_file(testdata::model_path("mobilenet_rescaled_fmnist.onnx"))};
  for (size_t i = 0; i < 2; ++i) {
    INFO("model " << i);
    const TransformOutcome out = equalize_cross_layer(models[i], {});
    REQUIRE(out.record.name == "cle");
    CHECK(out.record.options.at("relu6_replaced") == "0");
    const Tensor before = ort(models[i], "before" + std::to_string(i));
    const Tensor after = ort(out.model, "after" + std::to_string(i));
    CHECK(relative_difference(before, after) <= 1e-4);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("high-bias absorption on the reference models changes nothing it should not", "[cle]") {
  for (const char* file : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
    INFO(file);
    const Model model = load_onnx_file(testdata::model_path(file));
    const BatchNormStatistics stats = batch_norm_statistics(model);
    CHECK(stats.size() == (std::string(file) == "resnet_fmnist.onnx" ? 9u : 17u));
    const Model unfolded_cle = equalize_cross_layer(folded(file), {}).model;
    CleOptions hba;
    hba.statistics = std::make_shared<const BatchNormStatistics>(stats);
    const TransformOutcome out = equalize_cross_layer(folded(file), hba);
    const int absorbed = std::stoi(out.record.options.at("high_bias_absorbed_channels"));
    // None on the reference models: their BN shifts stay within 3 scales of zero.
    CHECK(absorbed == 0);
    // Where a channel's input to the Relu stays above c (nearly always, when BN's statistics
    // hold), the function is the same: top-1 moves little.
    const auto top1 = [](const Model& m) {
      return testdata::test_top1(
          [&](const std::vector<Tensor>& in) { return run_float(m, in.at(0)); }, 1000);
    };
    CHECK(std::fabs(top1(out.model) - top1(unfolded_cle)) <= 0.5);
  }
}

TEST_CASE("high-bias absorption keeps the function where the Relu input stays above c", "[cle]") {
  // x -> Conv -> BatchNormalization (beta 5, gamma 0.5: outputs within 5 +- 0.5 here) -> Relu
  // -> Conv: c = 5 - 3 * 0.5 = 3.5 per channel moves into the second Conv's bias.
  std::mt19937 rng(11);
  Node c1 = make_node("c1", "Conv", {"x", "w1", "b1"}, "h0");
  Node bn = make_node("bn", "BatchNormalization", {"h0", "gamma", "beta", "mean", "var"}, "h");
  Node c2 = make_node("c2", "Conv", {"a", "w2", "b2"}, "y");
  Model m = two_layers(c1, random_tensor({4, 3, 1, 1}, rng, 0.0f), random_tensor({4}, rng, 0.0f),
                       c2, random_tensor({5, 4, 1, 1}, rng, 0.0f));
  for (float *w = m.graph.initializers.at("w1").data<float>(), *end = w + 12; w != end; ++w)
    *w *= 0.05f;
  for (float *b = m.graph.initializers.at("b1").data<float>(), *end = b + 4; b != end; ++b)
    *b *= 0.05f;
  const auto filled = [](float v) {
    Tensor t(DType::kFloat32, {4});
    std::fill(t.data<float>(), t.data<float>() + 4, v);
    return t;
  };
  m.graph.initializers["gamma"] = filled(0.5f);
  m.graph.initializers["beta"] = filled(5.0f);
  m.graph.initializers["mean"] = filled(0.0f);
  m.graph.initializers["var"] = filled(1.0f);
  Tensor b2(DType::kFloat32, {5});
  std::fill(b2.data<float>(), b2.data<float>() + 5, 0.0f);
  m.graph.initializers["b2"] = b2;
  m.graph.nodes.insert(m.graph.nodes.begin() + 1, bn);
  const Model folded_model = fold_batch_norms(m).model;
  CleOptions hba;
  hba.statistics = std::make_shared<const BatchNormStatistics>(batch_norm_statistics(m));
  REQUIRE(hba.statistics->count("c1") == 1);
  const TransformOutcome plain = equalize_cross_layer(folded_model, {});
  const TransformOutcome out = equalize_cross_layer(folded_model, hba);
  CHECK(out.record.options.at("high_bias_absorbed_channels") == "4");
  // The first bias lost c (scaled by CLE) in every channel; the second gained W2 c.
  const Tensor& b1_plain = plain.model.graph.initializers.at("b1");
  const Tensor& b1_hba = out.model.graph.initializers.at("b1");
  for (int64_t i = 0; i < 4; ++i) CHECK(b1_hba.data<float>()[i] < b1_plain.data<float>()[i] - 1.0f);
  const Tensor x = random_tensor({2, 3, 5, 5}, rng, 0.0f);
  QuantSim before(folded_model, {}), after(out.model, {});
  const Tensor a = before.run_float({x}).at(0), b = after.run_float({x}).at(0);
  CHECK(relative_difference(a, b) <= 1e-5);
  // And in ONNX Runtime.
  const auto dir = test_temp_path("hba_ort");
  CHECK(relative_difference(ort_logits(folded_model, dir, "before", x, "x", "y"),
                            ort_logits(out.model, dir, "after", x, "x", "y")) <= 1e-4);
  std::filesystem::remove_all(dir);

  // The statistics CLE hands on: channel i scaled by s_i = the factor on its weights, and the
  // absorbed c_i = 3.5 s_i taken from beta; the same through the transform pipeline.
  const auto channel_range = [](const Tensor& w, int64_t i) {
    float r = 0.0f;
    for (int64_t k = 0; k < 3; ++k) r = std::max(r, std::fabs(w.data<float>()[i * 3 + k]));
    return r;
  };
  const TransformedModel piped =
      apply_transforms(m, {fold_batch_norm_transform, cross_layer_equalization(CleOptions{})});
  for (const std::shared_ptr<const BatchNormStatistics>& stats :
       {out.statistics, piped.statistics}) {
    REQUIRE(stats != nullptr);
    const PreActivationStatistics& c1_stats = stats->at("c1");
    for (int64_t i = 0; i < 4; ++i) {
      const double s_i = channel_range(out.model.graph.initializers.at("w1"), i) /
                         channel_range(folded_model.graph.initializers.at("w1"), i);
      CHECK(c1_stats.gamma[static_cast<size_t>(i)] == Approx(0.5 * s_i).epsilon(1e-5));
      CHECK(c1_stats.beta[static_cast<size_t>(i)] == Approx(1.5 * s_i).epsilon(1e-5));
    }
  }
  CleOptions keep = hba;
  keep.high_bias_absorption = false;
  const TransformOutcome unabsorbed = equalize_cross_layer(folded_model, keep);
  CHECK(unabsorbed.record.options.count("high_bias_absorbed_channels") == 0);
  CHECK(unabsorbed.statistics->at("c1").beta[0] ==
        Approx(10.0 * out.statistics->at("c1").gamma[0]).epsilon(1e-5));
  CHECK(plain.statistics == nullptr);  // no statistics in, none out
}

TEST_CASE("CLE with include_bias counts the first layer's bias in its channel ranges", "[cle]") {
  // Quark's CLEScaleAppendBias: with biases far larger than the weights, the equalized
  // ranges max(max |W1[i]|, |b1_i|) and max |W2[:, i]| agree, and the function stays.
  std::mt19937 rng(5);
  Tensor b1 = random_tensor({4}, rng, 0.0f);
  for (int64_t i = 0; i < 4; ++i) b1.data<float>()[i] = 20.0f * (1.0f + float(i));
  Model m = two_layers(
      make_node("c1", "Conv", {"x", "w1", "b1"}, "h"), random_tensor({4, 3, 1, 1}, rng, 0.0f), b1,
      make_node("c2", "Conv", {"a", "w2"}, "y"), random_tensor({5, 4, 1, 1}, rng, 0.0f));
  CleOptions with_bias;
  with_bias.include_bias = true;
  const TransformOutcome out = equalize_cross_layer(m, with_bias);
  CHECK(out.record.options.at("include_bias") == "1");
  const Tensor& w1 = out.model.graph.initializers.at("w1");
  const Tensor& b = out.model.graph.initializers.at("b1");
  const Tensor& w2 = out.model.graph.initializers.at("w2");
  for (int64_t i = 0; i < 4; ++i) {
    double r1 = std::fabs(b.data<float>()[i]), r2 = 0.0;
    for (int64_t k = 0; k < 3; ++k)
      r1 = std::max(r1, double(std::fabs(w1.data<float>()[i * 3 + k])));
    for (int64_t o = 0; o < 5; ++o)
      r2 = std::max(r2, double(std::fabs(w2.data<float>()[o * 4 + i])));
    CHECK(r1 == Approx(r2).epsilon(1e-5));
  }
  // Without it the weights alone decide, and the bias stays far outside their range.
  const TransformOutcome plain = equalize_cross_layer(m, {});
  CHECK(plain.record.options.count("include_bias") == 0);
  const Tensor x = random_tensor({2, 3, 4, 4}, rng, 0.0f);
  QuantSim before(m, {}), after(out.model, {});
  CHECK(relative_difference(before.run_float({x}).at(0), after.run_float({x}).at(0)) <= 1e-5);
}

TEST_CASE("CLE on a model without an equalizable pair: a note, not an error", "[cle]") {
  std::mt19937 rng(2);
  Model one;
  one.opset = 13;
  one.graph.inputs = {{"x", DType::kFloat32, 0, std::nullopt}};
  one.graph.outputs = {{"y", DType::kFloat32, 0, std::nullopt}};
  one.graph.initializers["w"] = random_tensor({4, 3, 1, 1}, rng, 1.0f);
  one.graph.nodes = {make_node("c", "Conv", {"x", "w"}, "y")};
  const TransformOutcome out = equalize_cross_layer(one, {});
  CHECK(out.record.name.empty());
  REQUIRE(out.notes.size() == 1);
  CHECK(out.notes[0] == "cle: no pair of layers to equalize; the model is unchanged");
  CHECK(out.model.graph.nodes.size() == 1);
}

TEST_CASE("CLE options are checked", "[cle]") {
  const Model model = folded("resnet_fmnist.onnx");
  for (int steps : {0, -2}) {
    CleOptions o;
    o.steps = steps;
    CHECK(testdata::error_code_of([&] { equalize_cross_layer(model, o); }) ==
          ErrorCode::kInvalidArgument);
  }
  CleOptions one;
  one.steps = 1;
  CHECK(equalize_cross_layer(model, one).record.options.at("steps") == "1");
}

TEST_CASE("SmoothQuant keeps the function, in qsim and in ONNX Runtime", "[smooth_quant]") {
  const Model model = folded("resnet_fmnist.onnx");
  const ActivationMaxima maxima =
      smooth_quant_statistics(model, testdata::train_batches(0, 256, 64), 256);
  REQUIRE(maxima.count("/fc/Gemm") == 1);
  CHECK(maxima.at("/fc/Gemm").size() == 64);
  const TransformOutcome out = smooth_quant(model, maxima, {});
  REQUIRE(out.record.name == "smooth_quant");
  // The Gemm reads a Flatten: the division becomes an inserted Mul.
  CHECK(out.record.options.at("inserted") == "1");
  CHECK(out.record.options.at("folded") == "0");
  CHECK(out.model.graph.nodes.size() == model.graph.nodes.size() + 1);
  const Tensor images = testdata::test_images(0, 200);
  CHECK(relative_difference(run_float(model, images).at(0), run_float(out.model, images).at(0)) <=
        1e-4);
  const auto dir = test_temp_path("smooth_quant_ort");
  CHECK(relative_difference(ort_logits(model, dir, "before", images),
                            ort_logits(out.model, dir, "after", images)) <= 1e-4);
  std::filesystem::remove_all(dir);
}

TEST_CASE("SmoothQuant folds the division into the layer before", "[smooth_quant]") {
  std::mt19937 rng(5);
  const Model m =
      two_layers(make_node("m1", "MatMul", {"x", "w1"}, "h"), random_tensor({10, 16}, rng, 4.0f),
                 Tensor(DType::kFloat32, {0}), make_node("m2", "MatMul", {"a", "w2"}, "y"),
                 random_tensor({16, 5}, rng, 1.0f));
  const Tensor x = random_tensor({8, 10}, rng, 0.0f);
  std::vector<Tensor> batches = {x};
  size_t next = 0;
  const ActivationMaxima maxima = smooth_quant_statistics(
      m,
      [&](std::vector<Tensor>& batch) {
        if (next == batches.size()) return false;
        batch = {batches[next++]};
        return true;
      },
      8);
  SmoothQuantOptions o;
  o.alpha = 0.75;
  const TransformOutcome out = smooth_quant(m, maxima, o);
  REQUIRE(out.record.name == "smooth_quant");
  CHECK(out.record.options.at("layers") == "2");  // m1 reads the graph input: a Mul
  CHECK(out.record.options.at("folded") == "1");
  CHECK(out.record.options.at("inserted") == "1");
  QuantSim before(m, {}), after(out.model, {});
  const Tensor a = before.run_float({x}).at(0), b = after.run_float({x}).at(0);
  CHECK(relative_difference(a, b) <= 1e-5);
}

TEST_CASE("SmoothQuant: alpha outside [0, 1] and layers without statistics", "[smooth_quant]") {
  const Model model = folded("resnet_fmnist.onnx");
  for (double alpha : {-0.1, 1.5}) {
    SmoothQuantOptions o;
    o.alpha = alpha;
    CHECK(testdata::error_code_of([&] { smooth_quant(model, {}, o); }) ==
          ErrorCode::kInvalidArgument);
  }
  const TransformOutcome none = smooth_quant(model, {}, {});
  CHECK(none.record.name.empty());
  REQUIRE(none.notes.size() == 1);
  CHECK(none.notes[0].find("no activation statistics") != std::string::npos);
  CHECK(testdata::error_code_of([&] {
          smooth_quant_statistics(
              model, [](std::vector<Tensor>&) { return false; }, 10);
        }) == ErrorCode::kInvalidArgument);
}
