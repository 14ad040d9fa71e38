// Dense prediction: quantizer placement and QDQ export of the segmentation reference model
// (ConvTranspose, Resize, Concat of two scales, Sigmoid map; docs/DENSE_PREDICTION.md), and the
// metrics the comparison tools judge such outputs by (tools/compare/dense_metrics.h).
#include <catch2/catch.hpp>

#include "dense_metrics.h"
#include "fmnist_data.h"
#include "quant/qdq_export.h"
#include "quant/quantizer_placement.h"
#include "quant/quantsim.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

Model seg_model() {
  return load_onnx_file(testdata::model_path("seg_fmnist.onnx"));
}

const Node& only_node(const Model& m, const std::string& op_type, int which = 0) {
  for (const Node& n : m.graph.nodes)
    if (n.op_type == op_type && which-- == 0) return n;
  FAIL("no " << op_type << " node");
  return m.graph.nodes.at(0);
}

Node& mutable_node(Model& m, const std::string& op_type) {
  for (Node& n : m.graph.nodes)
    if (n.op_type == op_type) return n;
  FAIL("no " << op_type << " node");
  return m.graph.nodes.at(0);
}

Tensor scores(int64_t rows, int64_t steps, int64_t classes, const std::vector<int64_t>& best) {
  Tensor t(DType::kFloat32, {rows, steps, classes});
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = 0.0f;
  for (int64_t rt = 0; rt < rows * steps; ++rt)
    t.data<float>()[rt * classes + best.at(static_cast<size_t>(rt))] = 1.0f;
  return t;
}

}  // namespace

TEST_CASE("segmentation placement: ConvTranspose weights per channel on axis 1", "[dense]") {
  const Model m = seg_model();
  const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
  const Node& up = only_node(m, "ConvTranspose");
  const ParamQuantizer* weight = p.find_param(up.inputs.at(1));
  REQUIRE(weight != nullptr);
  // ConvTranspose's weight is [C_in, C_out / group, kH, kW]: output channels are axis 1.
  CHECK(weight->axis == 1);
  CHECK(weight->channel_axis == 1);
  // Its bias lives on the int32 grid input_scale * weight_scale, per output channel.
  bool bias_on_int32_grid = false;
  for (const ParamQuantizer& q : p.implied_int32_biases)
    bias_on_int32_grid = bias_on_int32_grid || (q.tensor == up.inputs.at(2) && q.derived_scale());
  for (const ParamQuantizer& q : p.params)
    bias_on_int32_grid = bias_on_int32_grid || (q.tensor == up.inputs.at(2) && q.derived_scale());
  CHECK(bias_on_int32_grid);
}

TEST_CASE("segmentation placement: Resize nearest shares its input's grid, linear does not",
          "[dense]") {
  Model m = seg_model();
  {
    const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
    const Node& resize = only_node(m, "Resize");
    CHECK(p.find_activation(resize.outputs.at(0)) == nullptr);
    CHECK(p.encoding_owner(resize.outputs.at(0)) == p.encoding_owner(resize.inputs.at(0)));
    CHECK_FALSE(p.encoding_owner(resize.inputs.at(0)).empty());
  }
  mutable_node(m, "Resize").attributes["mode"] = Attribute::of_string("linear");
  const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
  const Node& resize = only_node(m, "Resize");
  // Interpolation makes values between grid points: the output is requantized.
  CHECK(p.find_activation(resize.outputs.at(0)) != nullptr);
}

TEST_CASE("segmentation placement: Concat requantizes its inputs to its own grid", "[dense]") {
  const Model m = seg_model();
  const QuantizerPlacement p = place_quantizers(m, default_quantsim_config(true), {});
  for (int which : {0, 1}) {
    const Node& concat = only_node(m, "Concat", which);
    CHECK(p.find_activation(concat.outputs.at(0)) != nullptr);
    CHECK(p.shared.count(concat.outputs.at(0)) == 0);
    // Both inputs keep grids of their own (a decoder and an encoder tensor).
    const std::string a = p.encoding_owner(concat.inputs.at(0));
    const std::string b = p.encoding_owner(concat.inputs.at(1));
    CHECK_FALSE(a.empty());
    CHECK_FALSE(b.empty());
    CHECK(a != b);
  }
  // The Sigmoid map, the model output, is quantized.
  CHECK(p.find_activation(only_node(m, "Sigmoid").outputs.at(0)) != nullptr);
}

TEST_CASE("segmentation QDQ export: per-axis DequantizeLinear on axis 1 before ConvTranspose",
          "[dense]") {
  QuantSimOptions options;
  options.per_channel = true;
  QuantSim sim(seg_model(), options);
  tools::calibrate_on_training_images(sim, 100, 50);
  const QdqModel qdq = build_qdq_model(sim.float_model(), sim.encodings());
  const Node& up = only_node(qdq.model, "ConvTranspose");
  const Node* weight_dq = nullptr;
  for (const Node& n : qdq.model.graph.nodes)
    if (n.op_type == "DequantizeLinear" && n.outputs.at(0) == up.inputs.at(1)) weight_dq = &n;
  REQUIRE(weight_dq != nullptr);
  CHECK(weight_dq->get_int("axis", 1) == 1);
  // The Resize reads and writes one grid, so ONNX Runtime drops its Q/DQ and resizes uint8.
  const Node& resize = only_node(qdq.model, "Resize");
  const Node* before = nullptr;
  const Node* after = nullptr;
  for (const Node& n : qdq.model.graph.nodes) {
    if (n.outputs.at(0) == resize.inputs.at(0)) before = &n;
    if (n.inputs.at(0) == resize.outputs.at(0)) after = &n;
  }
  REQUIRE(before != nullptr);
  REQUIRE(after != nullptr);
  CHECK(before->op_type == "DequantizeLinear");
  CHECK(after->op_type == "QuantizeLinear");
  // The same scale and zero point (ONNX Runtime's drop rule compares the values).
  const auto& inits = qdq.model.graph.initializers;
  for (size_t i : {size_t{1}, size_t{2}}) {
    const Tensor& b = inits.at(before->inputs.at(i));
    const Tensor& a = inits.at(after->inputs.at(i));
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(a.dtype() == b.dtype());
    if (a.dtype() == DType::kFloat32)
      CHECK(a.data<float>()[0] == b.data<float>()[0]);
    else
      CHECK(a.int_at(0) == b.int_at(0));
  }
}

TEST_CASE("mask metrics: IoU and identical pixels", "[dense]") {
  // Two images of 4 pixels.
  const std::vector<uint8_t> a = {1, 1, 0, 0, /**/ 0, 0, 0, 0};
  const std::vector<uint8_t> b = {1, 0, 1, 0, /**/ 0, 0, 0, 0};
  // Image 0: intersection 1, union 3; image 1: both empty, counted 1.
  CHECK(tools::mean_iou(a, b, 2) == Approx((1.0 / 3.0 + 1.0) / 2));
  CHECK(tools::identical_share(a, b) == Approx(6.0 / 8.0));
  CHECK(tools::mean_iou(a, a, 2) == 1.0);
  CHECK_THROWS(tools::mean_iou(a, b, 3));
  Tensor map(DType::kFloat32, {1, 1, 2, 2});
  const float values[] = {0.2f, 0.5f, 0.51f, 0.9f};
  std::copy(values, values + 4, map.data<float>());
  CHECK(tools::threshold_map(map) == std::vector<uint8_t>{0, 0, 1, 1});
  // Fashion-MNIST's target is the pixels whose byte is above 25.
  const std::vector<uint8_t> target = tools::fmnist_test_foreground(0, 1);
  const Tensor image = tools::fmnist_test_images(0, 1);
  int64_t expected = 0, got = 0;
  for (int64_t i = 0; i < image.size(); ++i) {
    expected += image.data<float>()[i] * 255.0f > 25.5f;
    got += target[static_cast<size_t>(i)];
  }
  CHECK(got == expected);
  CHECK(got > 50);
}

TEST_CASE("greedy CTC decoding collapses repeats and removes blanks", "[dense]") {
  // Row 0: "- a a - a b b -" (blank 0) decodes to "a a b": the blank separates the two a's.
  // Row 1: "c c c - - c c c" decodes to "c c".
  const Tensor s = scores(2, 8, 4, {0, 1, 1, 0, 1, 2, 2, 0, /**/ 3, 3, 3, 0, 0, 3, 3, 3});
  const auto decoded = tools::ctc_greedy_decode(s, 0);
  REQUIRE(decoded.size() == 2);
  CHECK(decoded[0] == std::vector<int64_t>{1, 1, 2});
  CHECK(decoded[1] == std::vector<int64_t>{3, 3});
  // Without a blank: plain per-step argmax.
  CHECK(tools::ctc_greedy_decode(s, -1)[0] == std::vector<int64_t>{0, 1, 1, 0, 1, 2, 2, 0});
  // A flip of one step changes the sequence; equal rows are counted.
  const Tensor t = scores(2, 8, 4, {0, 1, 1, 0, 1, 2, 3, 0, /**/ 3, 3, 3, 0, 0, 3, 3, 3});
  CHECK(tools::equal_sequences(decoded, tools::ctc_greedy_decode(t, 0)) == 1);
  // Ties go to the lowest class (std::max_element).
  Tensor tie(DType::kFloat32, {1, 2, 3});
  for (int64_t i = 0; i < tie.size(); ++i) tie.data<float>()[i] = 0.5f;
  CHECK(tools::ctc_greedy_decode(tie, 2)[0] == std::vector<int64_t>{0});
  CHECK_THROWS(tools::ctc_greedy_decode(s, 4));
  CHECK_THROWS(tools::ctc_greedy_decode(Tensor(DType::kFloat32, {2, 8}), 0));
}
