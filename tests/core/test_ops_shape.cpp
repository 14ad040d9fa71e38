// Shape and data-movement kernels (runtime/ops/shape.cpp, tensor.cpp): cases the ONNX
// conformance suite does not cover (opset variants, every dtype, threads, spec corner cases).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "runtime/engine.h"
#include "single_op_model.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

// 0, 1, 2, ... converted to T (wrapping for narrow types).
template <typename T>
Tensor iota_tensor(Shape shape) {
  Tensor t(dtype_of<T>(), std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data<T>()[i] = static_cast<T>(i % 251);
  return t;
}

std::vector<Tensor> run_all(const NodeSpec& spec, const std::vector<Tensor>& inputs,
                            int threads = 1) {
  Engine engine(one_node(spec), EngineOptions{threads});
  return engine.run(inputs);
}

Tensor run_one(const NodeSpec& spec, const std::vector<Tensor>& inputs, int threads = 1) {
  return run_all(spec, inputs, threads).at(0);
}

// The error code `fn` throws (fails the test when it does not throw).
template <typename Fn>
ErrorCode error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error thrown");
  return ErrorCode::kInternal;
}

// Naive transpose of `in` by `perm` for comparison.
Tensor reference_transpose(const Tensor& in, const std::vector<int64_t>& perm) {
  Shape out_shape;
  for (int64_t p : perm) out_shape.push_back(in.dim(p));
  Tensor out(in.dtype(), out_shape);
  const auto in_strides = contiguous_strides(in.shape());
  const size_t element = dtype_size(in.dtype());
  std::vector<int64_t> index(perm.size(), 0);
  for (int64_t o = 0; o < out.size(); ++o) {
    int64_t source = 0;
    for (size_t d = 0; d < perm.size(); ++d) source += index[d] * in_strides[perm[d]];
    std::memcpy(static_cast<uint8_t*>(out.raw()) + o * element,
                static_cast<const uint8_t*>(in.raw()) + source * element, element);
    for (size_t d = perm.size(); d-- > 0;) {
      if (++index[d] < out_shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.byte_size()) == 0;
}

}  // namespace

TEST_CASE("Shape folds at plan time, so it can feed Reshape's shape") {
  auto model = std::make_shared<Model>();
  model->opset = 15;
  Node shape;
  shape.name = "shape";
  shape.op_type = "Shape";
  shape.inputs = {"x"};
  shape.outputs = {"s"};
  shape.attributes = {{"start", Attribute::of_int(-2)}};
  Node reshape;
  reshape.name = "reshape";
  reshape.op_type = "Reshape";
  reshape.inputs = {"z", "s"};
  reshape.outputs = {"y"};
  model->graph.nodes = {shape, reshape};
  model->graph.inputs = {{"x", DType::kUndefined, 0, {}}, {"z", DType::kUndefined, 0, {}}};
  model->graph.outputs = {{"y", DType::kUndefined, 0, {}}};
  Engine engine(model);
  Tensor y = engine.run({Tensor(DType::kBool, {5, 2, 3}), iota_tensor<uint8_t>({6})})[0];
  CHECK(y.shape() == Shape{2, 3});
  CHECK(values_of<uint8_t>(y) == std::vector<uint8_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("Reshape: allowzero, -1 and errors") {
  NodeSpec spec{"Reshape",
                14,
                {"x", "shape"},
                {{"allowzero", Attribute::of_int(1)}},
                {{"shape", make_int64_tensor({3, 0})}}};
  CHECK(run_one(spec, {Tensor(DType::kFloat32, {0, 3})}).shape() == Shape{3, 0});
  // Without allowzero the 0 copies the input's dimension 1, and 9 elements do not fit 0.
  spec.attributes.clear();
  CHECK(error_of([&] { run_one(spec, {Tensor(DType::kFloat32, {0, 3})}); }) == ErrorCode::kShape);
  spec.constants["shape"] = make_int64_tensor({-1, 0, 2});
  CHECK(run_one(spec, {iota_tensor<int64_t>({3, 2, 4})}).shape() == Shape{6, 2, 2});
  spec.constants["shape"] = make_int64_tensor({-1, -1});
  CHECK(error_of([&] { run_one(spec, {iota_tensor<int64_t>({3, 4})}); }) == ErrorCode::kShape);
  // A shape known only at run time cannot be planned.
  NodeSpec dynamic{"Reshape", 13, {"x", "shape"}};
  CHECK(error_of([&] {
          run_one(dynamic, {iota_tensor<float>({4}), make_int64_tensor({2, 2})});
        }) == ErrorCode::kUnsupported);
}

TEST_CASE("Flatten accepts axis = rank and negative axes") {
  NodeSpec spec{"Flatten", 13, {"x"}, {{"axis", Attribute::of_int(3)}}};
  CHECK(run_one(spec, {iota_tensor<int8_t>({2, 3, 4})}).shape() == Shape{24, 1});
  spec.attributes["axis"] = Attribute::of_int(-1);
  CHECK(run_one(spec, {iota_tensor<int8_t>({2, 3, 4})}).shape() == Shape{6, 4});
  spec.attributes["axis"] = Attribute::of_int(0);
  CHECK(run_one(spec, {iota_tensor<int8_t>({2, 3, 4})}).shape() == Shape{1, 24});
}

TEST_CASE("Squeeze and Unsqueeze take axes as an attribute before opset 13") {
  NodeSpec squeeze{"Squeeze", 11, {"x"}, {{"axes", Attribute::of_ints({-1})}}};
  CHECK(run_one(squeeze, {iota_tensor<float>({1, 3, 1})}).shape() == Shape{1, 3});
  squeeze.attributes["axes"] = Attribute::of_ints({1});
  CHECK(error_of([&] { run_one(squeeze, {iota_tensor<float>({1, 3, 1})}); }) == ErrorCode::kShape);
  NodeSpec squeeze_all{"Squeeze", 13, {"x"}};
  CHECK(run_one(squeeze_all, {iota_tensor<float>({1, 3, 1})}).shape() == Shape{3});

  NodeSpec unsqueeze{"Unsqueeze", 11, {"x"}, {{"axes", Attribute::of_ints({-1, 0})}}};
  Tensor y = run_one(unsqueeze, {iota_tensor<int32_t>({2, 3})});
  CHECK(y.shape() == Shape{1, 2, 3, 1});
  CHECK(values_of<int32_t>(y) == std::vector<int32_t>{0, 1, 2, 3, 4, 5});
  unsqueeze.attributes["axes"] =
      Attribute::of_ints({1, -2});  // both name axis 1 of the rank-3 output
  CHECK(error_of([&] { run_one(unsqueeze, {iota_tensor<int32_t>({2})}); }) ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("Transpose matches a naive transpose for every dtype and thread count") {
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 64, 48, 40}, {0, 2, 3, 1}},  // NCHW -> NHWC
      {{2, 48, 40, 64}, {0, 3, 1, 2}},  // NHWC -> NCHW
      {{67, 45}, {1, 0}},
      {{3, 1, 5, 7, 2}, {2, 0, 4, 1, 3}},
      {{4, 1, 6}, {1, 2, 0}},
  };
  for (const auto& [shape, perm] : cases) {
    for (int threads : {1, 3}) {
      for (DType dtype : {DType::kFloat32, DType::kUInt8, DType::kInt64, DType::kBool}) {
        Tensor x(dtype, shape);
        for (size_t i = 0; i < x.byte_size(); ++i)
          static_cast<uint8_t*>(x.raw())[i] =
              static_cast<uint8_t>(dtype == DType::kBool ? i % 2 : i * 37);
        NodeSpec spec{"Transpose", 13, {"x"}, {{"perm", Attribute::of_ints(perm)}}};
        CHECK(same_bytes(run_one(spec, {x}, threads), reference_transpose(x, perm)));
      }
    }
  }
  NodeSpec bad{"Transpose", 13, {"x"}, {{"perm", Attribute::of_ints({0, 0})}}};
  CHECK(error_of([&] {
          run_one(bad, {iota_tensor<float>({2, 2})});
        }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("Concat with an empty input and with threads") {
  NodeSpec spec{"Concat", 13, {"a", "b", "c"}, {{"axis", Attribute::of_int(-1)}}};
  Tensor y = run_one(spec, {iota_tensor<int64_t>({2, 2}), Tensor(DType::kInt64, {2, 0}),
                            make_tensor<int64_t>({2, 1}, {7, 8})});
  CHECK(y.shape() == Shape{2, 3});
  CHECK(values_of<int64_t>(y) == std::vector<int64_t>{0, 1, 7, 2, 3, 8});
  Tensor a = iota_tensor<float>({300, 70, 3}), b = iota_tensor<float>({300, 50, 3});
  NodeSpec big{"Concat", 13, {"a", "b"}, {{"axis", Attribute::of_int(1)}}};
  CHECK(same_bytes(run_one(big, {a, b}, 1), run_one(big, {a, b}, 3)));
}

TEST_CASE("Split: attribute before opset 13, num_outputs with a smaller last part from 18") {
  NodeSpec attribute{"Split", 11, {"x"}, {{"split", Attribute::of_ints({1, 4})}}, {}, {"a", "b"}};
  auto parts = run_all(attribute, {iota_tensor<uint8_t>({5})});
  CHECK(values_of<uint8_t>(parts[0]) == std::vector<uint8_t>{0});
  CHECK(values_of<uint8_t>(parts[1]) == std::vector<uint8_t>{1, 2, 3, 4});

  NodeSpec uneven{"Split", 18,
                  {"x"},   {{"num_outputs", Attribute::of_int(3)}, {"axis", Attribute::of_int(1)}},
                  {},      {"a", "b", "c"}};
  parts = run_all(uneven, {iota_tensor<float>({2, 5})});
  CHECK(parts[0].shape() == Shape{2, 2});
  CHECK(parts[2].shape() == Shape{2, 1});
  CHECK(values_of<float>(parts[2]) == std::vector<float>{4, 9});
  // 5 in chunks of ceil(5 / 4) = 2 leaves nothing for the fourth part.
  uneven.attributes["num_outputs"] = Attribute::of_int(4);
  uneven.outputs = {"a", "b", "c", "d"};
  CHECK(error_of([&] { run_all(uneven, {iota_tensor<float>({2, 5})}); }) == ErrorCode::kShape);

  NodeSpec equal13{"Split", 13, {"x"}, {}, {}, {"a", "b", "c"}};
  CHECK(error_of([&] { run_all(equal13, {iota_tensor<float>({5})}); }) == ErrorCode::kShape);
}

TEST_CASE("Slice: opset 9 attributes, clamping and negative steps as the ONNX spec says") {
  NodeSpec attributes{
      "Slice",
      9,
      {"x"},
      {{"starts", Attribute::of_ints({1, 0})}, {"ends", Attribute::of_ints({1000, -1})}}};
  Tensor y = run_one(attributes, {iota_tensor<int32_t>({3, 4})});
  CHECK(y.shape() == Shape{2, 3});
  CHECK(values_of<int32_t>(y) == std::vector<int32_t>{4, 5, 6, 8, 9, 10});

  const int64_t max = std::numeric_limits<int64_t>::max(),
                min = std::numeric_limits<int64_t>::min();
  NodeSpec backward{"Slice",
                    13,
                    {"x", "starts", "ends", "", "steps"},
                    {},
                    {{"starts", make_int64_tensor({max})},
                     {"ends", make_int64_tensor({min})},
                     {"steps", make_int64_tensor({-2})}}};
  CHECK(values_of<int64_t>(run_one(backward, {iota_tensor<int64_t>({5})})) ==
        std::vector<int64_t>{4, 2, 0});
  // A backward slice starting before the axis clamps its start to 0 (numpy would give nothing).
  backward.constants["starts"] = make_int64_tensor({-10});
  backward.constants["ends"] = make_int64_tensor({-100});
  backward.constants["steps"] = make_int64_tensor({-1});
  CHECK(values_of<int64_t>(run_one(backward, {iota_tensor<int64_t>({5})})) ==
        std::vector<int64_t>{0});

  NodeSpec int32_bounds{
      "Slice",
      13,
      {"x", "starts", "ends"},
      {},
      {{"starts", make_tensor<int32_t>({1}, {1})}, {"ends", make_tensor<int32_t>({1}, {3})}}};
  CHECK(values_of<float>(run_one(int32_bounds, {iota_tensor<float>({5})})) ==
        std::vector<float>{1, 2});
}

TEST_CASE("Gather: scalar and int32 indices, out-of-range rejected") {
  NodeSpec spec{"Gather", 13, {"x", "i"}, {{"axis", Attribute::of_int(0)}}};
  Tensor y = run_one(spec, {iota_tensor<uint8_t>({3, 2}), make_tensor<int32_t>({}, {-1})});
  CHECK(y.shape() == Shape{2});
  CHECK(values_of<uint8_t>(y) == std::vector<uint8_t>{4, 5});
  spec.attributes["axis"] = Attribute::of_int(-1);
  y = run_one(spec, {iota_tensor<bool>({2, 2}), make_tensor<int64_t>({3}, {1, 0, 1})});
  CHECK(y.shape() == Shape{2, 3});
  CHECK(error_of([&] {
          run_one(spec, {iota_tensor<float>({3, 2}), make_tensor<int64_t>({1}, {2})});
        }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("ConstantOfShape and Constant") {
  NodeSpec spec{"ConstantOfShape",
                9,
                {"shape"},
                {{"value", Attribute::of_tensor(make_int64_tensor({7}))}},
                {{"shape", make_int64_tensor({2, 3})}}};
  Tensor y = run_one(spec, {});
  CHECK(y.dtype() == DType::kInt64);
  CHECK(values_of<int64_t>(y) == std::vector<int64_t>(6, 7));
  NodeSpec scalar{"ConstantOfShape", 9, {"shape"}, {}, {{"shape", Tensor(DType::kInt64, {0})}}};
  y = run_one(scalar, {});
  CHECK(y.shape().empty());
  CHECK(y.data<float>()[0] == 0.0f);

  NodeSpec constant{"Constant", 13, {}, {{"value_ints", Attribute::of_ints({1, 2, 3})}}};
  CHECK(values_of<int64_t>(run_one(constant, {})) == std::vector<int64_t>{1, 2, 3});
  constant.attributes = {{"value_string", Attribute::of_string("x")}};
  CHECK(error_of([&] { Engine engine(one_node(constant)); }) == ErrorCode::kUnsupported);
}

TEST_CASE("Cast truncates, saturates float -> integer and wraps integer -> integer") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto cast = [](const Tensor& x, int64_t onnx_to) {
    return run_one(NodeSpec{"Cast", 13, {"x"}, {{"to", Attribute::of_int(onnx_to)}}}, {x});
  };
  Tensor floats = make_tensor<float>({5}, {-3.7f, 3.7f, 1e10f, -1e10f, nan});
  CHECK(values_of<int32_t>(cast(floats, 6)) ==
        std::vector<int32_t>{-3, 3, std::numeric_limits<int32_t>::max(),
                             std::numeric_limits<int32_t>::min(), 0});
  CHECK(values_of<uint8_t>(cast(make_tensor<float>({3}, {300.0f, -5.0f, 254.9f}), 2)) ==
        std::vector<uint8_t>{255, 0, 254});
  CHECK(values_of<int8_t>(cast(make_tensor<int64_t>({3}, {200, -129, 127}), 3)) ==
        std::vector<int8_t>{-56, 127, 127});
  CHECK(values_of<int8_t>(cast(make_tensor<uint8_t>({1}, {200}), 3)) == std::vector<int8_t>{-56});
  CHECK(values_of<bool>(cast(make_tensor<float>({4}, {0.0f, -0.0f, nan, 0.1f}), 9)) ==
        std::vector<bool>{false, false, true, true});
  CHECK(values_of<float>(cast(make_tensor<bool>({2}, {true, false}), 1)) ==
        std::vector<float>{1, 0});
  CHECK(values_of<int64_t>(cast(make_tensor<int32_t>({1}, {-5}), 7)) == std::vector<int64_t>{-5});
  // 11 is DOUBLE: rejected when the model loads, naming the type.
  NodeSpec to_double{"Cast", 13, {"x"}, {{"to", Attribute::of_int(11)}}};
  REQUIRE_THROWS_WITH(Engine(one_node(to_double)), Catch::Contains("DOUBLE"));
  CHECK(error_of([&] { Engine engine(one_node(to_double)); }) == ErrorCode::kUnsupported);
}

TEST_CASE("Pad: opset variants, negative pads, large reflections") {
  // Opset 9: pads and a float value attribute, converted to the data type.
  NodeSpec v9{"Pad",
              9,
              {"x"},
              {{"pads", Attribute::of_ints({1, 1})}, {"value", Attribute::of_float(2.7f)}}};
  CHECK(values_of<int32_t>(run_one(v9, {make_tensor<int32_t>({1}, {5})})) ==
        std::vector<int32_t>{2, 5, 2});

  // Opset 11: constant_value may arrive at run time.
  NodeSpec v11{"Pad", 11, {"x", "pads", "v"}, {}, {{"pads", make_int64_tensor({1, 0})}}};
  CHECK(values_of<float>(
            run_one(v11, {make_tensor<float>({1}, {1}), make_tensor<float>({}, {4.5f})})) ==
        std::vector<float>{4.5f, 1});

  // Opset 18: axes pick the padded axes.
  NodeSpec v18{"Pad",
               18,
               {"x", "pads", "v", "axes"},
               {},
               {{"pads", make_int64_tensor({1, 1})},
                {"v", make_tensor<float>({}, {9})},
                {"axes", make_int64_tensor({-1})}}};
  Tensor y = run_one(v18, {iota_tensor<float>({2, 3})});
  CHECK(values_of<float>(y) == std::vector<float>{9, 0, 1, 2, 9, 9, 3, 4, 5, 9});

  // Negative pads crop first; reflect then mirrors what is left.
  NodeSpec reflect{"Pad",
                   13,
                   {"x", "pads"},
                   {{"mode", Attribute::of_string("reflect")}},
                   {{"pads", make_int64_tensor({-1, 3})}}};
  CHECK(values_of<int64_t>(run_one(reflect, {iota_tensor<int64_t>({5})})) ==
        std::vector<int64_t>{1, 2, 3, 4, 3, 2, 1});
  // Pads wider than the input reflect repeatedly, as numpy.pad does.
  reflect.constants["pads"] = make_int64_tensor({7, 6});
  CHECK(values_of<int64_t>(run_one(reflect, {iota_tensor<int64_t>({3})})) ==
        std::vector<int64_t>{1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0});
  // A constant pad that crops past the input leaves only padding.
  NodeSpec crop_all{"Pad", 13, {"x", "pads"}, {}, {{"pads", make_int64_tensor({-3, 4})}}};
  CHECK(values_of<float>(run_one(crop_all, {iota_tensor<float>({2})})) ==
        std::vector<float>{0, 0, 0});

  NodeSpec edge{"Pad",
                13,
                {"x", "pads"},
                {{"mode", Attribute::of_string("edge")}},
                {{"pads", make_int64_tensor({2, 1})}}};
  CHECK(values_of<bool>(run_one(edge, {make_tensor<bool>({2}, {true, false})})) ==
        std::vector<bool>{true, true, true, false, false});
  NodeSpec wrap{"Pad",
                18,
                {"x", "pads"},
                {{"mode", Attribute::of_string("wrap")}},
                {{"pads", make_int64_tensor({1, 1})}}};
  CHECK(error_of([&] { Engine engine(one_node(wrap)); }) == ErrorCode::kUnsupported);
}

TEST_CASE("Resize opset 10 samples asymmetrically and rounds nearest down") {
  NodeSpec nearest{
      "Resize", 10, {"x", "scales"}, {}, {{"scales", make_tensor<float>({2}, {1, 3})}}};
  CHECK(values_of<float>(run_one(nearest, {make_tensor<float>({1, 2}, {1, 2})})) ==
        std::vector<float>{1, 1, 1, 2, 2, 2});
  NodeSpec linear = nearest;
  linear.attributes = {{"mode", Attribute::of_string("linear")}};
  linear.constants["scales"] = make_tensor<float>({2}, {1, 2});
  CHECK(values_of<float>(run_one(linear, {make_tensor<float>({1, 2}, {1, 2})})) ==
        std::vector<float>{1, 1.5f, 2, 2});
  NodeSpec half_pixel = nearest;
  half_pixel.attributes = {{"coordinate_transformation_mode", Attribute::of_string("half_pixel")}};
  CHECK(error_of([&] { Engine engine(one_node(half_pixel)); }) == ErrorCode::kUnsupported);
}

TEST_CASE("Resize opset 18: axes and keep_aspect_ratio_policy") {
  NodeSpec spec{"Resize",
                18,
                {"x", "", "", "sizes"},
                {{"axes", Attribute::of_ints({2, 3})},
                 {"keep_aspect_ratio_policy", Attribute::of_string("not_larger")}},
                {{"sizes", make_int64_tensor({4, 4})}}};
  Tensor x = iota_tensor<float>({1, 1, 2, 4});
  Tensor y = run_one(spec, {x});  // scale min(4/2, 4/4) = 1
  CHECK(same_bytes(y, x));
  spec.attributes["keep_aspect_ratio_policy"] = Attribute::of_string("not_smaller");  // scale 2
  y = run_one(spec, {x});
  REQUIRE(y.shape() == Shape{1, 1, 4, 8});
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 8; ++c)
      CHECK(y.data<float>()[r * 8 + c] == x.data<float>()[(r / 2) * 4 + c / 2]);

  NodeSpec last_axis{"Resize",
                     18,
                     {"x", "", "scales"},
                     {{"axes", Attribute::of_ints({-1})}},
                     {{"scales", make_tensor<float>({1}, {2})}}};
  y = run_one(last_axis, {iota_tensor<uint8_t>({2, 2})});
  CHECK(values_of<uint8_t>(y) == std::vector<uint8_t>{0, 0, 1, 1, 2, 2, 3, 3});

  NodeSpec antialias{
      "Resize",
      18,
      {"x", "", "scales"},
      {{"antialias", Attribute::of_int(1)}, {"mode", Attribute::of_string("linear")}},
      {{"scales", make_tensor<float>({1}, {0.5f})}}};
  CHECK(error_of([&] { Engine engine(one_node(antialias)); }) == ErrorCode::kUnsupported);
}

TEST_CASE("Resize: dtype and plan-time limits, threads give identical results") {
  NodeSpec linear{"Resize",
                  13,
                  {"x", "", "scales"},
                  {{"mode", Attribute::of_string("linear")}},
                  {{"scales", make_tensor<float>({4}, {1, 1, 2.3f, 1.7f})}}};
  CHECK(error_of([&] {
          run_one(linear, {iota_tensor<uint8_t>({1, 1, 2, 2})});
        }) == ErrorCode::kUnsupported);
  Tensor x(DType::kFloat32, {1, 3, 97, 101});
  for (int64_t i = 0; i < x.size(); ++i)
    x.data<float>()[i] = std::sin(0.01f * static_cast<float>(i));
  for (const char* mode : {"linear", "cubic", "nearest"}) {
    linear.attributes["mode"] = Attribute::of_string(mode);
    CHECK(same_bytes(run_one(linear, {x}, 1), run_one(linear, {x}, 3)));
  }
  NodeSpec dynamic{"Resize", 13, {"x", "", "scales"}};
  CHECK(error_of([&] {
          run_one(dynamic, {x, make_tensor<float>({4}, {1, 1, 2, 2})});
        }) == ErrorCode::kUnsupported);
}
