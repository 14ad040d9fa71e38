// ONNX Runtime's AVX2 U8S8 arithmetic (docs/ORT_AVX2.md): int16 pair saturation on hand-made
// cases, a Conv's K order (tap-major, channel-minor, pairs straddling taps when the channel
// count is odd, padding at the input zero point), and the emulation in QuantSim on the
// reference models.
#include <catch2/catch.hpp>
#include <random>

#include "quant/ort_integer_ops.h"
#include "quant/quantsim.h"
#include "runtime/ops/pair_saturation.h"
#include "single_op_model.h"
#include "techniques/model_transforms.h"
#include "test_quantsim_data.h"

using namespace qsim;
using namespace qsim::testing;
using namespace qsim::testdata;

namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> values) {
  return std::vector<uint8_t>(values.begin(), values.end());
}

std::vector<int8_t> weights(std::initializer_list<int> values) {
  return std::vector<int8_t>(values.begin(), values.end());
}

// Conv x [1, C, H, W] -> y [1, M, ...] on a uint8 grid; y starts at 0, so after the call it
// holds only the saturation correction.
Tensor conv_correction(const Node& node, const Tensor& w_bytes, const Tensor& x, U8Grid grid,
                       const Shape& y_shape, float step = 1.0f) {
  Encoding weight;
  weight.bitwidth = 8;
  weight.symmetry = Symmetry::kSymmetric;
  weight.channels = {{1.0f, -128}};
  PairSaturationConv conv;
  conv.window = parse_window_attributes(node);
  conv.kernel_shape.assign(w_bytes.shape().begin() + 2, w_bytes.shape().end());
  conv.group = node.get_int("group", 1);
  conv.group_channels = w_bytes.dim(1);
  conv.input = grid;
  for (const auto& along_k : weight_bytes_along_k(w_bytes, weight, node)) {
    conv.pairs.push_back(saturable_pairs(along_k, 255));
    conv.output_step.push_back(step);
  }
  Tensor y(DType::kFloat32, y_shape);
  std::fill_n(y.data<float>(), y.size(), 0.0f);
  add_conv_pair_saturation(node, conv, x, y);
  return y;
}

// A reader giving `images` once.
BatchReader one_batch(Tensor images) {
  return [images, done = false](std::vector<Tensor>& batch) mutable {
    if (done) return false;
    batch = {images};
    return done = true;
  };
}

Node conv_node(std::map<std::string, Attribute> attributes) {
  return one_node("Conv", 13, {"x", "w"}, std::move(attributes))->graph.nodes[0];
}

}  // namespace

TEST_CASE("u8 x s8 products are summed in adjacent pairs saturated to int16") {
  // 255 * 127 * 2 = 64770 and 255 * -128 * 2 = -65280 leave int16.
  CHECK(pair_saturated_dot(bytes({255, 255}), weights({127, 127})) == 32767);
  CHECK(pair_saturated_dot(bytes({255, 255}), weights({-128, -128})) == -32768);
  CHECK(pair_saturated_dot(bytes({255, 255}), weights({127, -128})) == 255 * 127 - 255 * 128);
  // K = 5, not a multiple of 4: pairs (0, 1) and (2, 3) saturate, product 4 stands alone.
  CHECK(pair_saturated_dot(bytes({255, 255, 255, 255, 255}), weights({127, 127, 127, 127, 127})) ==
        2 * 32767 + 255 * 127);
  // Each pair saturates on its own: a positive and a negative pair do not cancel first.
  CHECK(pair_saturated_dot(bytes({255, 255, 255, 255}), weights({127, 127, -128, -128})) ==
        32767 - 32768);
  CHECK(saturate_int16(40000) == 32767);
  CHECK(saturate_int16(-40000) == -32768);
  CHECK(saturate_int16(-123) == -123);
}

TEST_CASE("the weight pairs that can leave int16, and the worst sum") {
  // Pairs (0,1), (2,3) and 4 alone; only (0,1) [+] and (2,3) [-] can saturate.
  const std::vector<int32_t> w = {100, 40, -100, -60, 127};
  const std::vector<WeightPair> pairs = saturable_pairs(w, 255);
  REQUIRE(pairs.size() == 2);
  CHECK((pairs[0].k0 == 0 && pairs[0].k1 == 1 && pairs[0].w0 == 100 && pairs[0].w1 == 40));
  CHECK((pairs[1].k0 == 2 && pairs[1].k1 == 3));
  CHECK(pair_sum_range(100, 40, 255).worst() == 255 * 140);
  CHECK(pair_sum_range(-100, -60, 255).worst() == -255 * 160);
  CHECK(pair_sum_range(127, -128, 255).worst() == 0);  // stays inside
  CHECK_FALSE(pair_sum_range(127, -128, 255).saturates());
  // A narrower input range cannot saturate the same pair.
  CHECK(saturable_pairs(w, 100).empty());
}

TEST_CASE("a Conv's K is tap-major and channel-minor, so with 3 channels a pair straddles taps") {
  // x [1, 3, 1, 2], w [1, 3, 1, 2]: K = (t0 c0, t0 c1, t0 c2, t1 c0, t1 c1, t1 c2); pairs
  // (t0c0, t0c1), (t0c2, t1c0), (t1c1, t1c2). Only w[c2, t0] and w[c0, t1] are large: they
  // pair with each other (64770 -> 32767), though they are not neighbours in ONNX's layout.
  const Node node = conv_node({});
  const Tensor w = make_tensor<float>({1, 3, 1, 2}, {0, 127, 0, 0, 127, 0});
  const Tensor x = make_tensor<float>({1, 3, 1, 2}, {255, 255, 255, 255, 255, 255});
  const Tensor y = conv_correction(node, w, x, {1.0f, 0}, {1, 1, 1, 1}, 0.5f);
  CHECK(y.data<float>()[0] == (32767.0f - 64770.0f) * 0.5f);
  // With the two weights in one tap's channels 0 and 1 instead, they pair too.
  const Tensor w2 = make_tensor<float>({1, 3, 1, 2}, {127, 0, 127, 0, 0, 0});
  CHECK(conv_correction(node, w2, x, {1.0f, 0}, {1, 1, 1, 1}).data<float>()[0] ==
        32767.0f - 64770.0f);
  // Channels 1 and 2 of one tap do not pair (1 belongs with 0, 2 with the next tap's 0).
  const Tensor w3 = make_tensor<float>({1, 3, 1, 2}, {0, 0, 127, 0, 127, 0});
  CHECK(conv_correction(node, w3, x, {1.0f, 0}, {1, 1, 1, 1}).data<float>()[0] == 0.0f);
}

TEST_CASE("padded taps read the input zero point, and can saturate negatively") {
  // x [1, 2, 1, 1], kernel 1x3 with one column of padding each side: taps t0 and t2 are padding.
  // The grid: u8 = x / 0.5 + 200, so padding reads 200 and x = -100 reads 0.
  const Node node = conv_node({{"pads", Attribute::of_ints({0, 1, 0, 1})}});
  const U8Grid grid{0.5f, 200};
  const Tensor x = make_tensor<float>({1, 2, 1, 1}, {-100.0f, -100.0f});
  // Pair (t0 c0, t0 c1): 200 * -100 * 2 = -40000 -> -32768, a correction of +7232; pair
  // (t2 c0, t2 c1) 200 * (-128 + 27) = -20200 stays inside.
  const Tensor w = make_tensor<float>({1, 2, 1, 3}, {-100, 5, -128, -100, 7, 27});
  const Tensor y = conv_correction(node, w, x, grid, {1, 1, 1, 1});
  CHECK(y.data<float>()[0] == 7232.0f);
  // The same weights on real inputs of 0 do not saturate: only the padding did.
  const Node unpadded = conv_node({});
  const Tensor x3 = make_tensor<float>({1, 2, 1, 3}, {-100, -100, -100, -100, -100, -100});
  CHECK(conv_correction(unpadded, w, x3, grid, {1, 1, 1, 1}).data<float>()[0] == 0.0f);
}

TEST_CASE("matrix products pair along K; a last odd product stands alone") {
  PairSaturationMatMul matmul;
  matmul.input = {1.0f, 0};
  // Column 0: K = 5, all 127: two saturating pairs. Column 1: -128 at k = 3 and 4, which are
  // in different pairs ((2, 3) and 4 alone): nothing saturates.
  const std::vector<int32_t> col0 = {127, 127, 127, 127, 127};
  const std::vector<int32_t> col1 = {0, 0, 0, -128, -128};
  matmul.pairs = {saturable_pairs(col0, 255), saturable_pairs(col1, 255)};
  matmul.output_step = {0.25f, 1.0f};
  const Tensor x = make_tensor<float>({2, 5}, {255, 255, 255, 255, 255, 255, 255, 0, 255, 255});
  Tensor y = make_tensor<float>({2, 2}, {1, 2, 3, 4});
  add_matmul_pair_saturation(matmul, x, y);
  CHECK(y.data<float>()[0] == 1.0f + 2 * (32767.0f - 64770.0f) * 0.25f);
  CHECK(y.data<float>()[1] == 2.0f);
  // Row 1: pair (0, 1) saturates; pair (2, 3) is 0 * 127 + 255 * 127, inside.
  CHECK(y.data<float>()[2] == 3.0f + (32767.0f - 64770.0f) * 0.25f);
  CHECK(y.data<float>()[3] == 4.0f);
}

TEST_CASE("a strided, grouped, padded Conv with odd channels matches the pairwise reference") {
  // 2 groups of 3 input channels, 4 outputs, 3x3 kernel, stride 2, padding 1; weights and
  // inputs large enough that many pairs saturate either way.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255), weight(-128, 127);
  const Node node = conv_node({{"group", Attribute::of_int(2)},
                               {"strides", Attribute::of_ints({2, 2})},
                               {"pads", Attribute::of_ints({1, 1, 1, 1})}});
  const U8Grid grid{1.0f, 17};
  Tensor x(DType::kFloat32, {2, 6, 5, 5});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(byte(rng) - 17);
  Tensor w(DType::kFloat32, {4, 3, 3, 3});
  for (int64_t i = 0; i < w.size(); ++i) w.data<float>()[i] = static_cast<float>(weight(rng));
  const Tensor y = conv_correction(node, w, x, grid, {2, 4, 3, 3});

  int64_t saturated_outputs = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t m = 0; m < 4; ++m)
      for (int64_t oh = 0; oh < 3; ++oh)
        for (int64_t ow = 0; ow < 3; ++ow) {
          // K in ONNX Runtime's order: tap (kh, kw) major, channel of the group minor.
          std::vector<uint8_t> xs;
          std::vector<int8_t> ws;
          for (int64_t kh = 0; kh < 3; ++kh)
            for (int64_t kw = 0; kw < 3; ++kw)
              for (int64_t c = 0; c < 3; ++c) {
                const int64_t ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                const int64_t channel = m / 2 * 3 + c;
                const bool inside = ih >= 0 && ih < 5 && iw >= 0 && iw < 5;
                xs.push_back(static_cast<uint8_t>(
                    inside ? grid.to_u8(x.data<float>()[((n * 6 + channel) * 5 + ih) * 5 + iw])
                           : 17));
                ws.push_back(static_cast<int8_t>(w.data<float>()[((m * 3 + c) * 3 + kh) * 3 + kw]));
              }
          int64_t exact = 0;
          for (size_t k = 0; k < xs.size(); ++k) exact += int64_t{xs[k]} * ws[k];
          const int64_t expected = pair_saturated_dot(xs, ws) - exact;
          saturated_outputs += expected != 0;
          CHECK(y.data<float>()[((n * 4 + m) * 3 + oh) * 3 + ow] == static_cast<float>(expected));
        }
  CHECK(saturated_outputs > 10);
}

TEST_CASE("ONNX Runtime's kernel choice per layer of the reference models") {
  // ResNet: every Conv has an input grid and a quantized output, so all are QLinearConv; the
  // stem (1 input channel) goes through im2col, the others through the symmetric kernel.
  // MobileNetV2: depthwise Convs take the exact depthwise kernel.
  for (const std::string& file : reference_models()) {
    INFO(file);
    QuantSimOptions options;
    options.transforms = {fold_batch_norm_transform};
    options.per_channel = true;
    QuantSim sim(load_onnx_file(model_path(file)), options);
    sim.calibrate(one_batch(train_images(0, 32)), nullptr);
    const EncodingSet set = sim.encodings();
    const Model& m = sim.prepared_model();
    const auto layers = ort_integer_layers(
        m,
        [&](const std::string& t) -> const Encoding* {
          const TensorEncoding* e = set.find(t);
          return e != nullptr && e->role != TensorRole::kWeight && e->encoding ? &*e->encoding
                                                                               : nullptr;
        },
        [&](const std::string& t) -> const Encoding* {
          const TensorEncoding* e = set.find(t);
          return e != nullptr && e->encoding ? &*e->encoding : nullptr;
        });
    std::map<OrtKernel, int> kernels;
    for (const OrtIntegerLayer& layer : layers) ++kernels[layer.kernel];
    const auto ops = m.op_counts();
    CHECK(kernels[OrtKernel::kQgemm] == 1);
    CHECK(kernels[OrtKernel::kConvSym] + kernels[OrtKernel::kConvIm2col] +
              kernels[OrtKernel::kConvDepthwise] ==
          ops.at("Conv"));
    CHECK(kernels[OrtKernel::kConvIm2col] >= 1);  // the 1-channel stem
    if (file.find("mobilenet") != std::string::npos) CHECK(kernels[OrtKernel::kConvDepthwise] > 0);
    // Depthwise layers never saturate, so no note names one.
    for (const std::string& note : sim.notes())
      for (const OrtIntegerLayer& layer : layers)
        if (layer.kernel == OrtKernel::kConvDepthwise)
          CHECK(note.find("'" + m.graph.nodes[layer.node].name + "'") == std::string::npos);
  }
}

TEST_CASE("QuantSim's ort-avx2 emulation: notes, exact mode unchanged, thread independence") {
  const Model model = load_onnx_file(model_path("resnet_fmnist.onnx"));
  const Tensor images = test_images(0, 48);
  std::vector<Tensor> exact, emulated;
  for (int threads : {1, 2}) {
    QuantSimOptions options;
    options.transforms = {fold_batch_norm_transform};
    options.per_channel = true;
    options.num_threads = threads;
    QuantSim sim(model, options);
    CHECK(sim.notes().empty());  // no input grids yet
    sim.calibrate(one_batch(train_images(0, 64)), nullptr);
    int saturation_notes = 0;
    for (const std::string& note : sim.notes())
      if (note.find("u8 x s8 pair sums can reach ") != std::string::npos) {
        ++saturation_notes;
        CHECK((note.rfind("Conv '", 0) == 0 || note.rfind("Gemm '", 0) == 0));
        CHECK(note.find("on ONNX Runtime's AVX2 kernels without VNNI (--target ort-avx2 avoids "
                        "it, --emulate ort-avx2 predicts it)") != std::string::npos);
      }
    CHECK(saturation_notes > 0);
    const Tensor by_default = sim.run_quantized({images}).at(0);
    exact.push_back(sim.run_quantized({images}, Target::kExact).at(0));
    emulated.push_back(sim.run_quantized({images}, Target::kOrtAvx2).at(0));
    CHECK(values_of<float>(by_default) == values_of<float>(exact.back()));
  }
  CHECK(values_of<float>(exact[0]) == values_of<float>(exact[1]));
  CHECK(values_of<float>(emulated[0]) == values_of<float>(emulated[1]));
  CHECK(values_of<float>(emulated[0]) != values_of<float>(exact[0]));
}

TEST_CASE("integer arithmetic names") {
  CHECK(target_from_name("exact") == Target::kExact);
  CHECK(target_from_name("ort-avx2") == Target::kOrtAvx2);
  CHECK(std::string(target_name(Target::kOrtAvx2)) == "ort-avx2");
  CHECK_THROWS_WITH(target_from_name("avx2"),
                    Catch::Contains("unknown target 'avx2' (valid: exact, ort-avx2)"));
}
