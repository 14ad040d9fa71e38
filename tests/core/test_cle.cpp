// Cross-layer equalization (src/techniques/cross_layer_equalization.h) on the reference models
// and on a ResNet whose channels were rescaled so that per-tensor weight grids fail it.
#include <catch2/catch.hpp>
#include <cmath>

#include "fmnist_data.h"
#include "graph/bn_fold.h"
#include "techniques/cross_layer_equalization.h"
#include "techniques/model_transforms.h"
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

TEST_CASE("CLE recovers per-tensor W8A8 on a ResNet with rescaled channels", "[cle]") {
  const Model model = folded("resnet_fmnist.onnx");
  const Model wide = tools::rescaled_resnet(1);
  const Tensor images = testdata::test_images(0, 64);
  CHECK(max_abs_difference(run_float(model, images).at(0), run_float(wide, images).at(0)) < 1e-2);
  const double plain = per_tensor_w8a8_top1(model, {});
  const double broken = per_tensor_w8a8_top1(wide, {});
  const double equalized = per_tensor_w8a8_top1(wide, {cross_layer_equalization({})});
  INFO("per-tensor W8A8 top-1: original " << plain << ", rescaled " << broken << ", rescaled + CLE "
                                          << equalized);
  CHECK(broken < plain - 5.0);
  CHECK(equalized >= plain - 1.0);
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
