// graph/opset_upgrade: each rule on a one-node model at an old opset, checked on the rewritten
// graph and on qsim's outputs before and after the rewrite (the kernels read both forms).
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "graph/opset_upgrade.h"
#include "runtime/engine.h"
#include "single_op_model.h"
#include "util/error.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

Tensor ramp(Shape shape, float step = 0.37f, float start = -2.0f) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<float>()[i] = start + step * static_cast<float>(i % 17) - 0.01f * static_cast<float>(i);
  return t;
}

std::vector<Tensor> run(const Model& model, const std::vector<Tensor>& inputs) {
  Engine engine(std::make_shared<const Model>(model), EngineOptions{1});
  return engine.run(inputs);
}

void check_same(const std::vector<Tensor>& before, const std::vector<Tensor>& after) {
  REQUIRE(before.size() == after.size());
  for (size_t o = 0; o < before.size(); ++o) {
    REQUIRE(before[o].shape() == after[o].shape());
    REQUIRE(before[o].dtype() == after[o].dtype());
    for (int64_t i = 0; i < before[o].size(); ++i)
      CHECK(std::abs(before[o].data<float>()[i] - after[o].data<float>()[i]) <= 1e-6f);
  }
}

// Upgrades `model` to `target` and checks that qsim's outputs did not change. Returns the
// upgraded model.
Model upgrade_and_compare(const Model& model, int64_t target, const std::vector<Tensor>& inputs) {
  const std::vector<Tensor> before = run(model, inputs);
  Model upgraded = model;
  const OpsetUpgradeReport report = upgrade_opset(upgraded, target);
  CHECK(report.from == model.opset);
  CHECK(report.to == target);
  CHECK(upgraded.opset == target);
  check_same(before, run(upgraded, inputs));
  return upgraded;
}

const Node& only_node(const Model& model, const std::string& op) {
  const Node* found = nullptr;
  for (const Node& node : model.graph.nodes)
    if (node.op_type == op) {
      REQUIRE(found == nullptr);
      found = &node;
    }
  REQUIRE(found != nullptr);
  return *found;
}

std::vector<int64_t> ints_input(const Model& model, const Node& node, size_t i) {
  REQUIRE(node.has_input(i));
  return model.graph.initializers.at(node.inputs[i]).to_int64_vector();
}

float float_input(const Model& model, const Node& node, size_t i) {
  REQUIRE(node.has_input(i));
  return model.graph.initializers.at(node.inputs[i]).data<float>()[0];
}

}  // namespace

TEST_CASE("opset upgrade: Clip's min and max attributes become inputs", "[opset]") {
  const auto model = one_node(
      "Clip", 9, {"x"}, {{"min", Attribute::of_float(-0.5f)}, {"max", Attribute::of_float(0.75f)}});
  const Model up = upgrade_and_compare(*model, 13, {ramp({2, 3, 4})});
  const Node& clip = only_node(up, "Clip");
  CHECK(clip.attributes.empty());
  CHECK(float_input(up, clip, 1) == -0.5f);
  CHECK(float_input(up, clip, 2) == 0.75f);
  SECTION("only max: min stays omitted") {
    const auto max_only = one_node("Clip", 9, {"x"}, {{"max", Attribute::of_float(6.0f)}});
    const Model m = upgrade_and_compare(*max_only, 11, {ramp({5}, 2.0f)});
    const Node& c = only_node(m, "Clip");
    REQUIRE(c.inputs.size() == 3);
    CHECK(c.inputs[1].empty());
    CHECK(float_input(m, c, 2) == 6.0f);
  }
}

TEST_CASE("opset upgrade: Slice's starts, ends and axes become inputs", "[opset]") {
  const auto model = one_node("Slice", 9, {"x"},
                              {{"starts", Attribute::of_ints({1, 0})},
                               {"ends", Attribute::of_ints({3, -1})},
                               {"axes", Attribute::of_ints({0, 2})}});
  const Model up = upgrade_and_compare(*model, 13, {ramp({4, 3, 5})});
  const Node& slice = only_node(up, "Slice");
  CHECK(slice.attributes.empty());
  CHECK(ints_input(up, slice, 1) == std::vector<int64_t>{1, 0});
  CHECK(ints_input(up, slice, 2) == std::vector<int64_t>{3, -1});
  CHECK(ints_input(up, slice, 3) == std::vector<int64_t>{0, 2});
}

TEST_CASE("opset upgrade: Squeeze's and Unsqueeze's axes become inputs", "[opset]") {
  const auto squeeze = one_node("Squeeze", 11, {"x"}, {{"axes", Attribute::of_ints({0, 2})}});
  const Model s = upgrade_and_compare(*squeeze, 13, {ramp({1, 3, 1, 2})});
  CHECK(ints_input(s, only_node(s, "Squeeze"), 1) == std::vector<int64_t>{0, 2});
  const auto unsqueeze = one_node("Unsqueeze", 12, {"x"}, {{"axes", Attribute::of_ints({-1})}});
  const Model u = upgrade_and_compare(*unsqueeze, 13, {ramp({3, 2})});
  CHECK(ints_input(u, only_node(u, "Unsqueeze"), 1) == std::vector<int64_t>{-1});
  SECTION("Squeeze without axes keeps no axes input") {
    const auto all = one_node("Squeeze", 9, {"x"});
    const Model a = upgrade_and_compare(*all, 13, {ramp({1, 3, 1})});
    CHECK(only_node(a, "Squeeze").inputs.size() == 1);
  }
}

TEST_CASE("opset upgrade: ReduceMean's axes become an input only from opset 18", "[opset]") {
  const auto model =
      one_node("ReduceMean", 11, {"x"},
               {{"axes", Attribute::of_ints({2, 3})}, {"keepdims", Attribute::of_int(0)}});
  const Model at13 = upgrade_and_compare(*model, 13, {ramp({2, 3, 4, 5})});
  CHECK(only_node(at13, "ReduceMean").has("axes"));  // nothing changed up to 13
  const Model at18 = upgrade_and_compare(*model, 18, {ramp({2, 3, 4, 5})});
  const Node& mean = only_node(at18, "ReduceMean");
  CHECK_FALSE(mean.has("axes"));
  CHECK(mean.get_int("keepdims", 1) == 0);
  CHECK(ints_input(at18, mean, 1) == std::vector<int64_t>{2, 3});
}

TEST_CASE("opset upgrade: Split's split becomes an input; num_outputs at 18", "[opset]") {
  const auto uneven = one_node(
      "Split", 11, {"x"}, {{"axis", Attribute::of_int(1)}, {"split", Attribute::of_ints({1, 3})}},
      {}, {"a", "b"});
  const Model up = upgrade_and_compare(*uneven, 13, {ramp({2, 4})});
  CHECK(ints_input(up, only_node(up, "Split"), 1) == std::vector<int64_t>{1, 3});
  const auto even =
      one_node("Split", 11, {"x"}, {{"axis", Attribute::of_int(0)}}, {}, {"a", "b", "c"});
  const Model at18 = upgrade_and_compare(*even, 18, {ramp({6, 2})});
  const Node& split = only_node(at18, "Split");
  CHECK(split.get_int("num_outputs", 0) == 3);
  CHECK(split.inputs.size() == 1);
}

TEST_CASE("opset upgrade: Pad's pads and value become inputs", "[opset]") {
  const auto model = one_node("Pad", 9, {"x"},
                              {{"pads", Attribute::of_ints({0, 1, 2, 0, 2, 1})},
                               {"value", Attribute::of_float(1.5f)},
                               {"mode", Attribute::of_string("constant")}});
  const Model up = upgrade_and_compare(*model, 13, {ramp({1, 2, 3})});
  const Node& pad = only_node(up, "Pad");
  CHECK(ints_input(up, pad, 1) == std::vector<int64_t>{0, 1, 2, 0, 2, 1});
  CHECK(float_input(up, pad, 2) == 1.5f);
  CHECK(pad.get_string("mode", "") == "constant");
  const auto reflect = one_node(
      "Pad", 10, {"x"},
      {{"pads", Attribute::of_ints({0, 2, 0, 1})}, {"mode", Attribute::of_string("reflect")}});
  upgrade_and_compare(*reflect, 11, {ramp({2, 4})});
}

TEST_CASE("opset upgrade: Softmax before 13 keeps its 2-D meaning", "[opset]") {
  SECTION("axis 1 of a 4-D input: Flatten -> Softmax -> Reshape") {
    const auto model = one_node("Softmax", 11, {"x"}, {{"axis", Attribute::of_int(1)}});
    const Model up = upgrade_and_compare(*model, 13, {ramp({2, 3, 2, 2})});
    CHECK(only_node(up, "Flatten").get_int("axis", 0) == 1);
    CHECK(only_node(up, "Softmax").get_int("axis", 0) == 1);
    CHECK(only_node(up, "Reshape").outputs[0] == "y");
    // The rewrite is not a relabelling: opset-13 Softmax along axis 1 alone differs.
    Model relabelled = *model;
    relabelled.opset = 13;
    const Tensor along_one = run(relabelled, {ramp({2, 3, 2, 2})})[0];
    const Tensor coerced = run(up, {ramp({2, 3, 2, 2})})[0];
    CHECK(std::abs(along_one.data<float>()[0] - coerced.data<float>()[0]) > 1e-3f);
  }
  SECTION("the default axis of a 2-D input declared so: relabelled") {
    auto model = one_node("Softmax", 9, {"x"});
    model->graph.inputs[0].dims = std::vector<Dim>{{-1, "n"}, {5, ""}};
    const Model up = upgrade_and_compare(*model, 13, {ramp({3, 5})});
    CHECK(up.graph.nodes.size() == 1);
  }
  SECTION("axis -1: relabelled") {
    const auto model = one_node("Softmax", 12, {"x"}, {{"axis", Attribute::of_int(-1)}});
    const Model up = upgrade_and_compare(*model, 13, {ramp({2, 3, 4})});
    CHECK(up.graph.nodes.size() == 1);
  }
}

TEST_CASE("opset upgrade: Resize-10 gets an roi and Resize-10's sampling", "[opset]") {
  Tensor scales = make_tensor<float>({4}, {1.0f, 1.0f, 2.0f, 1.5f});
  for (const std::string mode : {"nearest", "linear"}) {
    const auto model = one_node("Resize", 10, {"x", "scales"},
                                {{"mode", Attribute::of_string(mode)}}, {{"scales", scales}});
    for (int64_t target : {11, 13}) {
      const Model up = upgrade_and_compare(*model, target, {ramp({1, 2, 3, 4})});
      const Node& resize = only_node(up, "Resize");
      REQUIRE(resize.inputs.size() == 3);
      CHECK(resize.inputs[1].empty() == (target >= 13));
      CHECK(resize.get_string("coordinate_transformation_mode", "") == "asymmetric");
    }
  }
}

TEST_CASE("opset upgrade: Upsample becomes Resize", "[opset]") {
  const Tensor x = ramp({1, 1, 2, 3});
  // Upsample has no kernel in qsim: the Resize it becomes is checked against nearest sampling.
  const Attribute scales = Attribute::of_floats({1.0f, 1.0f, 2.0f, 2.0f});
  const auto seven = one_node("Upsample", 7, {"x"}, {{"scales", scales}});
  Model up = *seven;
  upgrade_opset(up, 13);
  const Node& resize = only_node(up, "Resize");
  CHECK(resize.get_string("mode", "") == "nearest");
  CHECK(resize.get_string("nearest_mode", "") == "floor");
  const Tensor y = run(up, {x})[0];
  REQUIRE(y.shape() == Shape{1, 1, 4, 6});
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c)
      CHECK(y.data<float>()[r * 6 + c] == x.data<float>()[(r / 2) * 3 + c / 2]);
  const auto nine = one_node("Upsample", 9, {"x", "s"}, {{"mode", Attribute::of_string("linear")}},
                             {{"s", make_tensor<float>({4}, {1.0f, 1.0f, 2.0f, 2.0f})}});
  Model up9 = *nine;
  upgrade_opset(up9, 11);
  const Node& linear = only_node(up9, "Resize");
  CHECK(linear.get_string("mode", "") == "linear");
  REQUIRE(linear.inputs.size() == 3);
  CHECK(up9.graph.initializers.at(linear.inputs[1]).size() == 0);  // Resize-11's roi is required
  CHECK(run(up9, {x})[0].shape() == Shape{1, 1, 4, 6});
}

TEST_CASE("opset upgrade: BatchNormalization at opset 7 loses spatial=1", "[opset]") {
  const auto model =
      one_node("BatchNormalization", 7, {"x", "s", "b", "m", "v"},
               {{"spatial", Attribute::of_int(1)}, {"epsilon", Attribute::of_float(1e-3f)}},
               {{"s", make_tensor<float>({2}, {1.5f, 0.5f})},
                {"b", make_tensor<float>({2}, {0.1f, -0.2f})},
                {"m", make_tensor<float>({2}, {0.3f, -0.4f})},
                {"v", make_tensor<float>({2}, {2.0f, 0.7f})}});
  const Model up = upgrade_and_compare(*model, 13, {ramp({2, 2, 3})});
  CHECK_FALSE(only_node(up, "BatchNormalization").has("spatial"));
  auto per_activation = one_node("BatchNormalization", 8, {"x", "s", "b", "m", "v"},
                                 {{"spatial", Attribute::of_int(0)}});
  Model copy = *per_activation;
  std::string message;
  try {
    upgrade_opset(copy, 13);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("BatchNormalization 'n'") && Catch::Contains("spatial=0"));
  CHECK(copy.opset == 8);  // unchanged when a node cannot be rewritten
}

TEST_CASE("opset upgrade: Dropout, TopK and Scatter are rewritten in the graph", "[opset]") {
  Model dropout = *one_node("Dropout", 10, {"x"}, {{"ratio", Attribute::of_float(0.25f)}});
  upgrade_opset(dropout, 13);
  CHECK(float_input(dropout, only_node(dropout, "Dropout"), 1) == 0.25f);
  Model topk = *one_node("TopK", 9, {"x"}, {{"k", Attribute::of_int(3)}}, {}, {"v", "i"});
  upgrade_opset(topk, 13);
  CHECK(ints_input(topk, only_node(topk, "TopK"), 1) == std::vector<int64_t>{3});
  Model scatter = *one_node("Scatter", 10, {"x", "i", "u"}, {{"axis", Attribute::of_int(1)}});
  upgrade_opset(scatter, 13);
  CHECK(only_node(scatter, "ScatterElements").get_int("axis", 0) == 1);
}

TEST_CASE("opset upgrade: an op qsim cannot rewrite is named with the reason", "[opset]") {
  Model group =
      *one_node("GroupNormalization", 18, {"x", "s", "b"}, {{"num_groups", Attribute::of_int(2)}});
  std::string message;
  try {
    upgrade_opset(group, 21);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kUnsupported);
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("GroupNormalization 'n'") && Catch::Contains("opset 21") &&
                          Catch::Contains("from 18"));
  CHECK(group.opset == 18);
  // Below 21 nothing changed for it.
  CHECK(upgrade_opset(group, 20).rewritten.empty());
}

TEST_CASE("opset upgrade: ops without interface changes are relabelled untouched", "[opset]") {
  const auto conv = one_node("Relu", 7, {"x"});
  const Model up = upgrade_and_compare(*conv, 13, {ramp({2, 3})});
  CHECK(up.graph.nodes.size() == 1);
  Model same = *conv;
  CHECK(upgrade_opset(same, 7).rewritten.empty());
  CHECK(same.opset == 7);
}

TEST_CASE("the table of opset changes is ordered by opset", "[opset]") {
  int64_t last = 0;
  for (const OpsetChange& change : opset_changes()) {
    CHECK(change.opset >= last);
    last = change.opset;
  }
}
