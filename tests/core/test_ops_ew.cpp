// Element-wise, activation, reduction and quantization kernels: cases the ONNX conformance
// suite does not cover (general broadcasting, threads, integer edge cases, opset variants).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "runtime/engine.h"
#include "single_op_model.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

// Values 0.25 * ((i * 7) % 23 - 11): varied signs, exact in float.
Tensor pattern(Shape shape) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<float>()[i] = 0.25f * static_cast<float>((i * 7) % 23 - 11);
  return t;
}

Tensor run_one(std::shared_ptr<Model> model, const std::vector<Tensor>& inputs, int threads = 1) {
  Engine engine(std::move(model), EngineOptions{threads});
  return engine.run(inputs).at(0);
}

// The error code of running (or loading) a model.
ErrorCode failure_of(std::shared_ptr<Model> model, const std::vector<Tensor>& inputs) {
  try {
    run_one(std::move(model), inputs);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error");
  return ErrorCode::kInternal;
}

// a[i] + b[j] over a broadcast, computed the slow obvious way.
Tensor reference_add(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor out(DType::kFloat32, out_shape);
  auto sa = broadcast_strides(a.shape(), out_shape);
  auto sb = broadcast_strides(b.shape(), out_shape);
  for (int64_t i = 0; i < out.size(); ++i) {
    int64_t rest = i, ia = 0, ib = 0;
    for (size_t d = out_shape.size(); d-- > 0;) {
      ia += rest % out_shape[d] * sa[d];
      ib += rest % out_shape[d] * sb[d];
      rest /= out_shape[d];
    }
    out.data<float>()[i] = a.data<float>()[ia] + b.data<float>()[ib];
  }
  return out;
}

}  // namespace

TEST_CASE("Add broadcasts every pattern like numpy, on one thread and on several") {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{2, 1, 3}, {4, 1}, {2, 4, 3}},               // both operands broadcast
      {{2, 3, 40, 50}, {3, 1, 1}, {2, 3, 40, 50}},  // per-channel
      {{1}, {5, 7, 300}, {5, 7, 300}},              // scalar on the left
      {{9, 1, 300}, {1, 40, 1}, {9, 40, 300}},      // alternating broadcast axes
      {{3, 0, 2}, {1, 2}, {3, 0, 2}},               // empty
      {{}, {}, {}},                                 // rank 0
  };
  for (const auto& c : cases)
    for (int threads : {1, 2, 3}) {
      Tensor a = pattern(c.a), b = pattern(c.b);
      Tensor y = run_one(one_node("Add", 14, {"a", "b"}), {a, b}, threads);
      REQUIRE(y.shape() == c.out);
      CHECK(values_of<float>(y) == values_of<float>(reference_add(a, b, c.out)));
    }
}

TEST_CASE("shapes that do not broadcast are a shape error") {
  CHECK(failure_of(one_node("Mul", 14, {"a", "b"}), {pattern({2, 3}), pattern({4})}) ==
        ErrorCode::kShape);
}

TEST_CASE("integer arithmetic truncates, wraps and refuses division by zero") {
  auto div = one_node("Div", 14, {"a", "b"});
  const int32_t lowest = std::numeric_limits<int32_t>::min();
  Tensor y = run_one(div, {make_tensor<int32_t>({5}, {-7, 7, -7, lowest, 9}),
                           make_tensor<int32_t>({5}, {2, -2, -1, -1, 3})});
  CHECK(values_of<int32_t>(y) == std::vector<int32_t>{-3, -3, 7, lowest, 3});
  CHECK(failure_of(div, {make_tensor<int64_t>({2}, {1, 2}), make_tensor<int64_t>({2}, {1, 0})}) ==
        ErrorCode::kNumeric);

  Tensor sum = run_one(one_node("Add", 14, {"a", "b"}),
                       {make_tensor<int8_t>({2}, {127, -128}), make_tensor<int8_t>({1}, {1})});
  CHECK(values_of<int8_t>(sum) == std::vector<int8_t>{-128, -127});
  Tensor product = run_one(one_node("Mul", 14, {"a", "b"}),
                           {make_tensor<uint8_t>({1}, {200}), make_tensor<uint8_t>({1}, {2})});
  CHECK(values_of<uint8_t>(product) == std::vector<uint8_t>{144});
}

TEST_CASE("operands of different dtypes, or dtypes without a loop, are rejected") {
  CHECK(failure_of(one_node("Add", 14, {"a", "b"}),
                   {pattern({2}), make_tensor<int32_t>({2}, {1, 2})}) ==
        ErrorCode::kInvalidArgument);
  CHECK(failure_of(one_node("Sub", 14, {"a", "b"}),
                   {make_tensor<bool>({1}, {true}), make_tensor<bool>({1}, {false})}) ==
        ErrorCode::kUnsupported);
  CHECK(failure_of(one_node("Sigmoid", 13, {"x"}), {make_tensor<int32_t>({1}, {1})}) ==
        ErrorCode::kUnsupported);
}

TEST_CASE("Max and Min take any number of broadcast inputs and propagate NaN") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = make_tensor<float>({2, 1}, {1, nan});
  Tensor b = make_tensor<float>({3}, {0, 5, -1});
  Tensor c = make_tensor<float>({}, {2});
  Tensor max = run_one(one_node("Max", 13, {"a", "b", "c"}), {a, b, c});
  REQUIRE(max.shape() == Shape{2, 3});
  std::vector<float> v = values_of<float>(max);
  CHECK(std::vector<float>(v.begin(), v.begin() + 3) == std::vector<float>{2, 5, 2});
  CHECK((std::isnan(v[3]) && std::isnan(v[4]) && std::isnan(v[5])));
  Tensor min = run_one(one_node("Min", 13, {"a", "b", "c"}), {a, b, c});
  v = values_of<float>(min);
  CHECK(std::vector<float>(v.begin(), v.begin() + 3) == std::vector<float>{0, 1, -1});
  CHECK(std::isnan(v[4]));
  Tensor one = run_one(one_node("Min", 13, {"a"}), {make_tensor<int64_t>({2}, {4, -4})});
  CHECK(values_of<int64_t>(one) == std::vector<int64_t>{4, -4});
}

TEST_CASE("Pow: float and integer bases, exact squares, overflow is an error") {
  Tensor x = make_tensor<float>({4}, {1.5f, -3.0f, 1e20f, -0.0f});
  Tensor squared = run_one(one_node("Pow", 15, {"x", "e"}), {x, make_tensor<float>({}, {2})});
  CHECK(values_of<float>(squared) == std::vector<float>{2.25f, 9.0f, INFINITY, 0.0f});
  Tensor cube = run_one(one_node("Pow", 15, {"x", "e"}), {x, make_tensor<int64_t>({1}, {3})});
  CHECK(values_of<float>(cube)[1] == -27.0f);

  Tensor ints = run_one(
      one_node("Pow", 15, {"x", "e"}),
      {make_tensor<int32_t>({4}, {2, -3, 2, 7}), make_tensor<int32_t>({4}, {10, 3, -1, 0})});
  CHECK(values_of<int32_t>(ints) == std::vector<int32_t>{1024, -27, 0, 1});
  Tensor root = run_one(one_node("Pow", 15, {"x", "e"}),
                        {make_tensor<int64_t>({1}, {10}), make_tensor<float>({1}, {0.5f})});
  CHECK(values_of<int64_t>(root) == std::vector<int64_t>{3});
  CHECK(failure_of(one_node("Pow", 15, {"x", "e"}),
                   {make_tensor<int32_t>({1}, {2}), make_tensor<int32_t>({1}, {31})}) ==
        ErrorCode::kNumeric);
}

TEST_CASE("Clip: attribute bounds before opset 11, optional inputs after") {
  Tensor x = make_tensor<float>({5}, {-3, -1, 0, 1, 3});
  std::map<std::string, Attribute> bounds = {{"min", Attribute::of_float(-1.5f)},
                                             {"max", Attribute::of_float(2)}};
  CHECK(values_of<float>(run_one(one_node("Clip", 10, {"x"}, bounds), {x})) ==
        std::vector<float>{-1.5f, -1, 0, 1, 2});
  CHECK(failure_of(one_node("Clip", 13, {"x"}, bounds), {x}) == ErrorCode::kUnsupported);

  Tensor max_only =
      run_one(one_node("Clip", 13, {"x", "", "max"}), {x, make_tensor<float>({}, {0.5f})});
  CHECK(values_of<float>(max_only) == std::vector<float>{-3, -1, 0, 0.5f, 0.5f});
  // min > max: every element becomes max, as in numpy.clip.
  Tensor crossed = run_one(one_node("Clip", 13, {"x", "lo", "hi"}),
                           {make_tensor<int32_t>({3}, {-5, 0, 5}), make_tensor<int32_t>({}, {2}),
                            make_tensor<int32_t>({}, {1})});
  CHECK(values_of<int32_t>(crossed) == std::vector<int32_t>{1, 1, 1});
  CHECK(failure_of(one_node("Clip", 13, {"x", "lo"}), {x, make_tensor<float>({2}, {0, 1})}) ==
        ErrorCode::kShape);
}

TEST_CASE("activations") {
  Tensor x = make_tensor<float>({6}, {-4, -1, 0, 0.5f, 3, 100});
  const std::vector<double> hard_swish = {0, -1.0 / 3, 0, 0.5 * (0.5 / 6 + 0.5), 3, 100};
  Tensor y = run_one(one_node("HardSwish", 14, {"x"}), {x});
  for (size_t i = 0; i < hard_swish.size(); ++i) CHECK(y.data<float>()[i] == Approx(hard_swish[i]));
  CHECK(values_of<float>(run_one(one_node("LeakyRelu", 16, {"x"}), {x}))[0] == -0.04f);
  CHECK(values_of<float>(run_one(
            one_node("HardSigmoid", 13, {"x"}, {{"alpha", Attribute::of_float(0.25f)}}), {x})) ==
        std::vector<float>{0, 0.25f, 0.5f, 0.625f, 1, 1});
  CHECK(values_of<int8_t>(
            run_one(one_node("Relu", 14, {"x"}), {make_tensor<int8_t>({2}, {-7, 7})})) ==
        std::vector<int8_t>{0, 7});
  Tensor sigmoid = run_one(one_node("Sigmoid", 13, {"x"}), {make_tensor<float>({2}, {-80, 100})});
  CHECK(values_of<float>(sigmoid)[0] == Approx(std::exp(-80.0)).epsilon(1e-6));
  CHECK(values_of<float>(sigmoid)[1] == 1.0f);
}

TEST_CASE("PRelu slopes broadcast to x only") {
  Tensor x = pattern({2, 3, 2, 2});
  Tensor slope = make_tensor<float>({3, 1, 1}, {0.5f, 2, -1});
  Tensor y = run_one(one_node("PRelu", 16, {"x", "slope"}), {x, slope});
  for (int64_t i = 0; i < x.size(); ++i) {
    float v = x.data<float>()[i];
    float s = slope.data<float>()[i / 4 % 3];
    CHECK(y.data<float>()[i] == (v < 0 ? s * v : v));
  }
  CHECK(failure_of(one_node("PRelu", 16, {"x", "slope"}), {pattern({3}), pattern({2, 3})}) ==
        ErrorCode::kShape);
}

TEST_CASE("Softmax: a 2-D coercion before opset 13, one axis from 13, stable for large inputs") {
  Tensor x = make_tensor<float>({2, 2, 2}, {1000, 1001, 1002, 1003, 0, 0, 0, 0});
  // Opset 11, axis 1: each batch's 4 values form one row.
  Tensor y11 = run_one(one_node("Softmax", 11, {"x"}), {x});
  double total = std::exp(0.0) + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(values_of<float>(y11)[0] == Approx(1.0 / total));
  CHECK(values_of<float>(y11)[3] == Approx(std::exp(3.0) / total));
  CHECK(values_of<float>(y11)[4] == 0.25f);
  // Opset 13, axis 1: pairs 2 apart.
  Tensor y13 = run_one(one_node("Softmax", 13, {"x"}, {{"axis", Attribute::of_int(1)}}), {x});
  CHECK(values_of<float>(y13)[0] == Approx(1.0 / (1.0 + std::exp(2.0))));
  CHECK(values_of<float>(y13)[2] == Approx(std::exp(2.0) / (1.0 + std::exp(2.0))));
  CHECK(values_of<float>(y13)[4] == 0.5f);
}

TEST_CASE("ReduceMean: opset 18 axes input, noop_with_empty_axes, keepdims, accuracy") {
  Tensor x = pattern({2, 3, 4});
  Tensor axes = make_int64_tensor({-2});
  auto mean18 = [&](std::map<std::string, Attribute> attrs, std::vector<std::string> inputs,
                    std::map<std::string, Tensor> constants) {
    return run_one(one_node("ReduceMean", 18, inputs, std::move(attrs), std::move(constants)), {x});
  };
  Tensor middle = mean18({{"keepdims", Attribute::of_int(0)}}, {"x", "axes"}, {{"axes", axes}});
  REQUIRE(middle.shape() == Shape{2, 4});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < 4; ++k) {
      const float* p = x.data<float>() + n * 12 + k;
      CHECK(middle.data<float>()[n * 4 + k] == Approx((p[0] + p[4] + p[8]) / 3.0));
    }
  Tensor all = mean18({}, {"x"}, {});
  CHECK(all.shape() == Shape{1, 1, 1});
  Tensor same = mean18({{"noop_with_empty_axes", Attribute::of_int(1)}}, {"x", "axes"},
                       {{"axes", Tensor(DType::kInt64, {0})}});
  CHECK(values_of<float>(same) == values_of<float>(x));
  CHECK(failure_of(one_node("ReduceMean", 13, {"x"}, {{"axes", Attribute::of_ints({1, -2})}}),
                   {x}) == ErrorCode::kInvalidArgument);
  CHECK(failure_of(one_node("ReduceMean", 13, {"x", "axes"}, {}, {{"axes", axes}}), {x}) ==
        ErrorCode::kInvalidArgument);

  // Several threads, each over a different range of outputs, with strided terms.
  Tensor wide = pattern({64, 3, 300});
  Tensor split =
      run_one(one_node("ReduceMean", 13, {"x"}, {{"axes", Attribute::of_ints({1})}}), {wide}, 3);
  REQUIRE(split.shape() == Shape{64, 1, 300});
  for (int64_t n = 0; n < 64; ++n)
    for (int64_t k = 0; k < 300; ++k) {
      const float* p = wide.data<float>() + n * 900 + k;
      REQUIRE(split.data<float>()[n * 300 + k] ==
              static_cast<float>((double{p[0]} + p[300] + p[600]) / 3.0));
    }

  // A float running sum of 2^22 copies of 0.1 drifts by percents; in double it is exact.
  Tensor big(DType::kFloat32, {1 << 22});
  std::fill_n(big.data<float>(), big.size(), 0.1f);
  Tensor mean =
      run_one(one_node("ReduceMean", 13, {"x"}, {{"keepdims", Attribute::of_int(0)}}), {big}, 2);
  CHECK(mean.shape().empty());
  CHECK(mean.data<float>()[0] == 0.1f);
}

TEST_CASE("QuantizeLinear rounds half to even and saturates; per-axis scales") {
  Tensor x = make_tensor<float>({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000, -1000, NAN});
  Tensor q = run_one(one_node("QuantizeLinear", 10, {"x", "s", "z"}, {}),
                     {x, make_tensor<float>({}, {1}), make_tensor<int8_t>({}, {1})});
  CHECK(values_of<int8_t>(q) == std::vector<int8_t>{1, 3, 3, 1, -1, 127, -128, -128});
  Tensor u =
      run_one(one_node("QuantizeLinear", 13, {"x", "s"}), {x, make_tensor<float>({1}, {0.5f})});
  REQUIRE(u.dtype() == DType::kUInt8);
  CHECK(values_of<uint8_t>(u) == std::vector<uint8_t>{1, 3, 5, 0, 0, 255, 0, 0});

  Tensor channels = make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor per_axis =
      run_one(one_node("QuantizeLinear", 13, {"x", "s", "z"}, {{"axis", Attribute::of_int(-2)}}),
              {channels, make_tensor<float>({2}, {1, 2}), make_tensor<uint8_t>({2}, {10, 20})});
  CHECK(values_of<uint8_t>(per_axis) == std::vector<uint8_t>{11, 12, 13, 22, 22, 23});
  CHECK(failure_of(one_node("QuantizeLinear", 13, {"x", "s"}),
                   {channels, make_tensor<float>({2}, {1, 2})}) == ErrorCode::kShape);
  CHECK(failure_of(one_node("QuantizeLinear", 10, {"x", "s"}, {{"axis", Attribute::of_int(0)}}),
                   {channels, make_tensor<float>({}, {1})}) == ErrorCode::kUnsupported);
}

TEST_CASE("DequantizeLinear: int32 codes without overflow, per-axis scales") {
  const int32_t top = std::numeric_limits<int32_t>::max();
  Tensor y = run_one(one_node("DequantizeLinear", 13, {"x", "s", "z"}),
                     {make_tensor<int32_t>({2}, {top, -top}), make_tensor<float>({}, {1}),
                      make_tensor<int32_t>({}, {-top})});
  CHECK(values_of<float>(y) == std::vector<float>{2.0f * top, 0.0f});
  Tensor per_axis =
      run_one(one_node("DequantizeLinear", 13, {"x", "s", "z"}, {{"axis", Attribute::of_int(1)}}),
              {make_tensor<int8_t>({2, 2}, {-128, 127, 0, 1}), make_tensor<float>({2}, {0.5f, 2}),
               make_tensor<int8_t>({2}, {0, 1})});
  CHECK(values_of<float>(per_axis) == std::vector<float>{-64, 252, 0, 0});
  CHECK(failure_of(one_node("DequantizeLinear", 13, {"x", "s", "z"}),
                   {make_tensor<uint8_t>({1}, {1}), make_tensor<float>({}, {1}),
                    make_tensor<int8_t>({}, {0})}) == ErrorCode::kInvalidArgument);
}
