// Conv, FusedConv, ConvTranspose, Gemm, MatMul, BatchNormalization and pooling kernels against
// slow obvious references: the paths the ONNX conformance suite does not reach (groups,
// depthwise with a multiplier, 1x1, dilations with strides, 1-D and 3-D, the direct
// kernels' tiles, remainders and tasks, broadcasting) and bitwise identical results for any
// thread count.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "runtime/engine.h"
#include "single_op_model.h"
#include "util/cpu_isa.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

// Deterministic values in [-1, 1).
Tensor random_tensor(Shape shape, uint32_t seed) {
  Tensor t(DType::kFloat32, std::move(shape));
  uint32_t state = seed * 2654435761u + 1;
  for (int64_t i = 0; i < t.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    t.data<float>()[i] = static_cast<float>(state >> 8) / static_cast<float>(1 << 23) - 1.0f;
  }
  return t;
}

std::vector<Tensor> run_model(std::shared_ptr<Model> model, const std::vector<Tensor>& inputs,
                              int threads) {
  Engine engine(std::move(model), EngineOptions{threads});
  return engine.run(inputs);
}

ErrorCode failure_of(std::shared_ptr<Model> model, const std::vector<Tensor>& inputs) {
  try {
    run_model(std::move(model), inputs, 1);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error");
  return ErrorCode::kInternal;
}

void check_close(const Tensor& actual, const Tensor& expected) {
  REQUIRE(actual.shape() == expected.shape());
  for (int64_t i = 0; i < expected.size(); ++i) {
    const float e = expected.data<float>()[i];
    INFO("element " << i);
    REQUIRE(actual.data<float>()[i] == Approx(e).margin(1e-5).epsilon(1e-4));
  }
}

// Runs on 1, 2 and 3 threads: the results must be bitwise identical and match `expected`.
void check_all_thread_counts(const std::shared_ptr<Model>& model, const std::vector<Tensor>& inputs,
                             const Tensor& expected) {
  const Tensor first = run_model(model, inputs, 1).at(0);
  check_close(first, expected);
  for (int threads : {2, 3})
    CHECK(values_of<float>(run_model(model, inputs, threads).at(0)) == values_of<float>(first));
}

// Window attributes of a test case, one entry per spatial dimension.
struct Window {
  Shape kernel, strides, pads, dilations;  // pads: begins then ends
  size_t rank() const { return kernel.size(); }
  int64_t pad_begin(size_t d) const { return pads[d]; }
  int64_t out_dim(int64_t in, size_t d) const {
    return (in + pads[d] + pads[rank() + d] - (kernel[d] - 1) * dilations[d] - 1) / strides[d] + 1;
  }
  std::map<std::string, Attribute> attributes() const {
    return {{"kernel_shape", Attribute::of_ints(kernel)},
            {"strides", Attribute::of_ints(strides)},
            {"pads", Attribute::of_ints(pads)},
            {"dilations", Attribute::of_ints(dilations)}};
  }
};

// Row-major offset of a spatial position within one plane of `dims`.
int64_t spatial_offset(const Shape& dims, const Shape& pos) {
  int64_t offset = 0;
  for (size_t d = 0; d < dims.size(); ++d) offset = offset * dims[d] + pos[d];
  return offset;
}

// Calls fn(position) for every position of a grid of `dims`.
template <typename Fn>
void for_each_position(const Shape& dims, Fn fn) {
  Shape pos(dims.size(), 0);
  for (int64_t i = 0; i < element_count(dims); ++i) {
    int64_t rest = i;
    for (size_t d = dims.size(); d-- > 0;) {
      pos[d] = rest % dims[d];
      rest /= dims[d];
    }
    fn(pos);
  }
}

// The input position tap `k` of output `o` reads; false when it lies in the padding.
bool tap_input(const Window& w, const Shape& in_dims, const Shape& o, const Shape& k, Shape& i) {
  i.resize(o.size());
  for (size_t d = 0; d < o.size(); ++d) {
    i[d] = o[d] * w.strides[d] - w.pad_begin(d) + k[d] * w.dilations[d];
    if (i[d] < 0 || i[d] >= in_dims[d]) return false;
  }
  return true;
}

Tensor reference_conv(const Tensor& x, const Tensor& weights, const Tensor* bias, const Window& w,
                      int64_t groups) {
  const Shape in_dims(x.shape().begin() + 2, x.shape().end());
  Shape out_dims;
  for (size_t d = 0; d < w.rank(); ++d) out_dims.push_back(w.out_dim(in_dims[d], d));
  const int64_t n_batch = x.dim(0), channels = x.dim(1), filters = weights.dim(0);
  const int64_t cg = channels / groups, mg = filters / groups;
  Shape y_shape = {n_batch, filters};
  y_shape.insert(y_shape.end(), out_dims.begin(), out_dims.end());
  Tensor y(DType::kFloat32, y_shape);
  const int64_t in_size = element_count(in_dims), out_size = element_count(out_dims);
  const int64_t taps = element_count(w.kernel);
  Shape i;
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t m = 0; m < filters; ++m)
      for_each_position(out_dims, [&](const Shape& o) {
        double sum = bias ? bias->data<float>()[m] : 0.0;
        for (int64_t c = 0; c < cg; ++c)
          for_each_position(w.kernel, [&](const Shape& k) {
            if (!tap_input(w, in_dims, o, k, i)) return;
            const int64_t channel = m / mg * cg + c;
            sum += static_cast<double>(x.data<float>()[(n * channels + channel) * in_size +
                                                       spatial_offset(in_dims, i)]) *
                   weights.data<float>()[(m * cg + c) * taps + spatial_offset(w.kernel, k)];
          });
        y.data<float>()[(n * filters + m) * out_size + spatial_offset(out_dims, o)] =
            static_cast<float>(sum);
      });
  return y;
}

struct ConvCase {
  const char* name;
  Shape x;
  int64_t filters;
  int64_t groups;
  Window window;
  bool bias;
};

}  // namespace

TEST_CASE("Conv matches a direct convolution on every path and thread count") {
  const std::vector<ConvCase> cases = {
      {"3x3 same padding, batch 3",
       {3, 5, 9, 11},
       7,
       1,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"stride 2, dilation 2, asymmetric pads",
       {2, 3, 13, 10},
       4,
       1,
       {{3, 2}, {2, 3}, {0, 2, 1, 1}, {2, 1}},
       false},
      {"two groups", {2, 4, 8, 8}, 6, 2, {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}}, true},
      {"depthwise with multiplier 2",
       {2, 6, 12, 9},
       12,
       6,
       {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"depthwise, dilated, no bias",
       {1, 4, 10, 10},
       4,
       4,
       {{3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}},
       false},
      {"depthwise on wide rows, spread over threads",
       {4, 32, 20, 21},
       32,
       32,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"depthwise 5x5 stride 3, asymmetric pads",
       {2, 3, 17, 11},
       6,
       3,
       {{5, 5}, {3, 3}, {2, 0, 1, 2}, {1, 1}},
       true},
      {"1x1 pointwise", {2, 8, 7, 5}, 5, 1, {{1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}}, true},
      {"small images batched, the last task partly filled",
       {9, 6, 6, 6},
       4,
       1,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"1x1 on small images batched",
       {9, 6, 5, 5},
       4,
       1,
       {{1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
       false},
      {"1x1 with stride 2", {1, 8, 7, 5}, 5, 1, {{1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}}, true},
      {"single image split into tasks",
       {1, 32, 28, 28},
       24,
       1,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"single image 1x1 split into tasks",
       {1, 16, 28, 28},
       8,
       1,
       {{1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
       false},
      {"1-D, dilated", {2, 3, 20}, 4, 1, {{3}, {2}, {2, 1}, {3}}, true},
      {"3-D with groups",
       {2, 4, 5, 6, 7},
       4,
       2,
       {{2, 3, 2}, {1, 2, 1}, {1, 0, 1, 0, 1, 1}, {1, 1, 2}},
       true},
      {"3-D depthwise",
       {1, 3, 4, 5, 6},
       3,
       3,
       {{3, 3, 3}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1}},
       false},
      // The direct kernels (conv_direct.h): flat tiles with a remainder of a 7x7 plane,
      // filters not a whole number of blocks.
      {"7x7 planes: whole vectors and a remainder",
       {5, 16, 7, 7},
       21,
       1,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"4x4 planes of stride-2 phases, tiles spanning images",
       {5, 9, 7, 7},
       20,
       1,
       {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"1x1 stride 2 onto 4x4 planes",
       {7, 16, 7, 7},
       32,
       1,
       {{1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}},
       false},
      {"1x1 in place on 7x7 planes",
       {4, 24, 7, 7},
       13,
       1,
       {{1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
       true},
      {"pads wider than same, 5x5, dilated",
       {2, 3, 9, 8},
       9,
       1,
       {{5, 5}, {1, 1}, {4, 3, 4, 5}, {2, 1}},
       true},
      {"window kernel: 3x3 outputs",
       {3, 6, 5, 5},
       18,
       1,
       {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"window kernel: valid padding, stride 1",
       {2, 5, 10, 12},
       40,
       1,
       {{3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
       true},
      {"one input channel, 28x28 stem",
       {3, 1, 28, 28},
       16,
       1,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"depthwise on blocks of 16 channels, stride 2",
       {3, 40, 14, 14},
       40,
       40,
       {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       true},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Shape w_shape = {c.filters, c.x[1] / c.groups};
      w_shape.insert(w_shape.end(), c.window.kernel.begin(), c.window.kernel.end());
      const Tensor x = random_tensor(c.x, 1), w = random_tensor(w_shape, 2);
      const Tensor b = random_tensor({c.filters}, 3);
      auto attributes = c.window.attributes();
      attributes["group"] = Attribute::of_int(c.groups);
      auto model = one_node("Conv", 13, {"x", "w", c.bias ? "b" : ""}, attributes);
      std::vector<Tensor> inputs = {x, w};
      if (c.bias) inputs.push_back(b);
      check_all_thread_counts(model, inputs,
                              reference_conv(x, w, c.bias ? &b : nullptr, c.window, c.groups));
    }
  }
}

TEST_CASE("Conv with constant weights, packed once, gives the bits of the same weights as inputs") {
  const std::vector<ConvCase> cases = {
      {"flat", {3, 8, 9, 9}, 12, 1, {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}}, true},
      {"window", {3, 8, 3, 3}, 20, 1, {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}}, true},
      {"blocked depthwise", {2, 20, 6, 6}, 20, 20, {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}}, false},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Shape w_shape = {c.filters, c.x[1] / c.groups};
      w_shape.insert(w_shape.end(), c.window.kernel.begin(), c.window.kernel.end());
      const Tensor x = random_tensor(c.x, 7), w = random_tensor(w_shape, 8);
      const Tensor b = random_tensor({c.filters}, 9);
      auto attributes = c.window.attributes();
      attributes["group"] = Attribute::of_int(c.groups);
      const std::string bias = c.bias ? "b" : "";
      auto as_inputs = one_node("Conv", 13, {"x", "w", bias}, attributes);
      std::map<std::string, Tensor> constants = {{"w", w}};
      if (c.bias) constants["b"] = b;
      auto as_constants = one_node("Conv", 13, {"x", "w", bias}, attributes, constants);
      std::vector<Tensor> inputs = {x, w};
      if (c.bias) inputs.push_back(b);
      const std::vector<float> expected = values_of<float>(run_model(as_inputs, inputs, 1).at(0));
      Engine engine(as_constants, EngineOptions{2});
      for (int run = 0; run < 2; ++run) CHECK(values_of<float>(engine.run({x}).at(0)) == expected);
    }
  }
}

namespace {

// acc += a * b as the kernel path in use computes it: rounded once (FMA) on the AVX2 and
// AVX-512 paths, twice on the baseline path.
void path_multiply_add(float& acc, float a, float b) {
  acc = active_isa() >= Isa::kAvx2 ? std::fma(a, b, acc) : acc + a * b;
}

// Depthwise convolution in float, as its kernels must compute it: bias, then every tap in
// (kh, kw) order, a tap in the padding adding 0 * w, each tap one path_multiply_add.
Tensor float_order_depthwise(const Tensor& x, const Tensor& w, const Tensor& b, const Window& win) {
  const int64_t batch = x.dim(0), channels = x.dim(1), h = x.dim(2), width = x.dim(3);
  const int64_t oh = win.out_dim(h, 0), ow = win.out_dim(width, 1);
  Tensor y(DType::kFloat32, {batch, channels, oh, ow});
  float* out = y.data<float>();
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          float acc = b.data<float>()[c];
          for (int64_t kh = 0; kh < win.kernel[0]; ++kh)
            for (int64_t kw = 0; kw < win.kernel[1]; ++kw) {
              const int64_t r = i * win.strides[0] - win.pads[0] + kh * win.dilations[0];
              const int64_t q = j * win.strides[1] - win.pads[1] + kw * win.dilations[1];
              const bool inside = r >= 0 && r < h && q >= 0 && q < width;
              const float v =
                  inside ? x.data<float>()[((n * channels + c) * h + r) * width + q] : 0.0f;
              const float weight = w.data<float>()[(c * win.kernel[0] + kh) * win.kernel[1] + kw];
              path_multiply_add(acc, v, weight);
            }
          *out++ = acc;
        }
  return y;
}

}  // namespace

TEST_CASE("depthwise Conv gives the bits of bias + taps in order on blocks and on planes") {
  const std::vector<std::pair<Shape, Window>> cases = {
      {{3, 20, 14, 14}, {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}}},  // blocks of 16 channels
      {{2, 33, 7, 7}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}}},    // blocks, stride 2
      {{2, 5, 3, 3}, {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}}},     // planes of 9: per plane
      {{1, 4, 9, 9}, {{5, 5}, {1, 1}, {4, 4, 4, 4}, {2, 2}}},     // dilated, blocks
  };
  for (const auto& [shape, window] : cases) {
    const int64_t channels = shape[1];
    const Tensor x = random_tensor(shape, 11);
    const Tensor w = random_tensor({channels, 1, window.kernel[0], window.kernel[1]}, 12);
    const Tensor b = random_tensor({channels}, 13);
    auto attributes = window.attributes();
    attributes["group"] = Attribute::of_int(channels);
    const std::vector<float> expected = values_of<float>(float_order_depthwise(x, w, b, window));
    for (int threads : {1, 3})
      CHECK(values_of<float>(
                run_model(one_node("Conv", 13, {"x", "w", "b"}, attributes), {x, w, b}, threads)
                    .at(0)) == expected);
  }
}

namespace {

// A graph of `nodes` over graph inputs `inputs` (weights among them become initializers when
// given in `constants`) with one output "y".
std::shared_ptr<Model> graph_of(std::vector<Node> nodes, const std::vector<std::string>& inputs,
                                const std::map<std::string, Tensor>& constants, int64_t opset) {
  auto model = std::make_shared<Model>();
  model->opset = opset;
  model->graph.nodes = std::move(nodes);
  for (const auto& name : inputs) model->graph.inputs.push_back({name, DType::kUndefined, 0, {}});
  model->graph.initializers = constants;
  model->graph.outputs.push_back({"y", DType::kUndefined, 0, {}});
  return model;
}

Node make_node(const std::string& op, std::vector<std::string> inputs, std::string output,
               std::map<std::string, Attribute> attributes = {}) {
  Node node;
  node.name = op + "_" + output;
  node.op_type = op;
  node.inputs = std::move(inputs);
  node.outputs = {std::move(output)};
  node.attributes = std::move(attributes);
  return node;
}

}  // namespace

TEST_CASE("FusedConv gives the bits of the Conv, Add and activation it replaces") {
  const Tensor x = random_tensor({2, 6, 9, 9}, 21);
  const std::map<std::string, Tensor> weights = {{"w", random_tensor({10, 6, 3, 3}, 22)},
                                                 {"b", random_tensor({10}, 23)},
                                                 {"low", make_scalar_float(-0.3f)},
                                                 {"high", make_scalar_float(0.4f)}};
  const Window same{{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}};
  const Node conv = make_node("Conv", {"x", "w", "b"}, "c", same.attributes());
  struct Case {
    const char* name;
    std::vector<Node> after;  // nodes after the Conv
    Shape sum;                // shape of a sum input "z", empty for none
    int64_t opset;
  };
  const std::vector<Case> cases = {
      {"Relu", {make_node("Relu", {"c"}, "y")}, {}, 13},
      {"Clip with constant bounds", {make_node("Clip", {"c", "low", "high"}, "y")}, {}, 13},
      {"HardSigmoid and Mul",
       {make_node("HardSigmoid", {"c"}, "h", {{"alpha", Attribute::of_float(0.3f)}}),
        make_node("Mul", {"h", "c"}, "y")},
       {},
       13},
      {"HardSwish", {make_node("HardSwish", {"c"}, "y")}, {}, 14},
      {"Add of the same shape, then Relu",
       {make_node("Add", {"z", "c"}, "s"), make_node("Relu", {"s"}, "y")},
       {2, 10, 9, 9},
       13},
      {"Add broadcasting its other operand",
       {make_node("Add", {"c", "z"}, "y")},
       {1, 10, 1, 9},
       13},
      {"Add broadcasting the convolution, then Clip",
       {make_node("Add", {"c", "z"}, "s"), make_node("Clip", {"s", "low", "high"}, "y")},
       {3, 2, 10, 9, 9},
       13},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      std::vector<Node> nodes = {conv};
      nodes.insert(nodes.end(), c.after.begin(), c.after.end());
      std::vector<std::string> inputs = {"x"};
      std::vector<Tensor> values = {x};
      if (!c.sum.empty()) {
        inputs.push_back("z");
        values.push_back(random_tensor(c.sum, 24));
      }
      auto model = graph_of(nodes, inputs, weights, c.opset);
      Engine fused(model, EngineOptions{2, true});
      Engine unfused(model, EngineOptions{2, false});
      REQUIRE(fused.model().graph.nodes.size() == 1);
      CHECK(fused.model().graph.nodes[0].op_type == "FusedConv");
      const Tensor expected = unfused.run(values).at(0);
      const Tensor got = fused.run(values).at(0);
      REQUIRE(got.shape() == expected.shape());
      CHECK(values_of<float>(got) == values_of<float>(expected));
    }
  }
}

TEST_CASE("Conv: SAME_LOWER puts the odd padding first, shapes are checked") {
  const Tensor x = random_tensor({1, 2, 6, 6}, 4), w = random_tensor({3, 2, 2, 2}, 5);
  auto lower = one_node("Conv", 11, {"x", "w"}, {{"auto_pad", Attribute::of_string("SAME_LOWER")}});
  // SAME on 6 with a 2-tap window pads one cell, before the data for SAME_LOWER.
  const Window explicit_pads{{2, 2}, {1, 1}, {1, 1, 0, 0}, {1, 1}};
  check_close(run_model(lower, {x, w}, 1).at(0), reference_conv(x, w, nullptr, explicit_pads, 1));

  const Tensor wrong_channels = random_tensor({3, 3, 2, 2}, 6);
  CHECK(failure_of(one_node("Conv", 11, {"x", "w"}, {}), {x, wrong_channels}) == ErrorCode::kShape);
  CHECK(failure_of(one_node("Conv", 11, {"x", "w"}, {{"auto_pad", Attribute::of_string("SAME")}}),
                   {x, w}) == ErrorCode::kUnsupported);
  CHECK(failure_of(one_node("Conv", 11, {"x", "w"}, {{"kernel_shape", Attribute::of_ints({3, 3})}}),
                   {x, w}) == ErrorCode::kShape);
}

namespace {

// y[n, m, o] += x[n, c, i] * w[c, m, k] wherever o = i * stride - pad + k * dilation.
Tensor reference_conv_transpose(const Tensor& x, const Tensor& weights, const Tensor* bias,
                                const Window& w, int64_t groups, const Shape& out_dims) {
  const Shape in_dims(x.shape().begin() + 2, x.shape().end());
  const int64_t n_batch = x.dim(0), channels = x.dim(1), mg = weights.dim(1);
  const int64_t cg = channels / groups, filters = mg * groups;
  Shape y_shape = {n_batch, filters};
  y_shape.insert(y_shape.end(), out_dims.begin(), out_dims.end());
  Tensor y(DType::kFloat32, y_shape);
  std::vector<double> sums(static_cast<size_t>(y.size()), 0.0);
  const int64_t in_size = element_count(in_dims), out_size = element_count(out_dims);
  const int64_t taps = element_count(w.kernel);
  Shape o;
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t m = 0; m < mg; ++m)
        for_each_position(in_dims, [&](const Shape& i) {
          for_each_position(w.kernel, [&](const Shape& k) {
            // The output position is where the adjoint convolution's tap k of `i` reads.
            if (!tap_input(w, out_dims, i, k, o)) return;
            const int64_t filter = c / cg * mg + m;
            sums[(n * filters + filter) * out_size + spatial_offset(out_dims, o)] +=
                static_cast<double>(
                    x.data<float>()[(n * channels + c) * in_size + spatial_offset(in_dims, i)]) *
                weights.data<float>()[(c * mg + m) * taps + spatial_offset(w.kernel, k)];
          });
        });
  for (int64_t e = 0; e < y.size(); ++e)
    y.data<float>()[e] =
        static_cast<float>(sums[e] + (bias ? bias->data<float>()[e / out_size % filters] : 0.0));
  return y;
}

}  // namespace

TEST_CASE("ConvTranspose matches a direct scatter with groups, strides, dilations, padding") {
  struct Case {
    const char* name;
    Shape x;
    int64_t group_filters, groups;
    Window window;
    Shape output_padding;
  };
  const std::vector<Case> cases = {
      {"2-D, stride 2, output padding, groups",
       {2, 4, 5, 6},
       3,
       2,
       {{3, 3}, {2, 2}, {1, 0, 1, 1}, {1, 1}},
       {1, 0}},
      {"2-D dilated, single image split",
       {1, 8, 9, 9},
       64,
       1,
       {{3, 3}, {1, 1}, {1, 1, 1, 1}, {2, 2}},
       {0, 0}},
      {"1-D, stride 3", {1, 2, 7}, 2, 1, {{4}, {3}, {2, 1}, {1}}, {2}},
      {"3-D",
       {1, 2, 3, 4, 3},
       2,
       1,
       {{2, 3, 2}, {2, 1, 2}, {0, 1, 0, 1, 0, 1}, {1, 1, 1}},
       {1, 0, 0}},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Shape w_shape = {c.x[1], c.group_filters};
      w_shape.insert(w_shape.end(), c.window.kernel.begin(), c.window.kernel.end());
      const Tensor x = random_tensor(c.x, 7), w = random_tensor(w_shape, 8);
      const Tensor b = random_tensor({c.group_filters * c.groups}, 9);
      Shape out_dims;
      for (size_t d = 0; d < c.window.rank(); ++d)
        out_dims.push_back(c.window.strides[d] * (c.x[2 + d] - 1) + c.output_padding[d] +
                           (c.window.kernel[d] - 1) * c.window.dilations[d] + 1 - c.window.pads[d] -
                           c.window.pads[c.window.rank() + d]);
      auto attributes = c.window.attributes();
      attributes["group"] = Attribute::of_int(c.groups);
      attributes["output_padding"] = Attribute::of_ints(c.output_padding);
      auto model = one_node("ConvTranspose", 11, {"x", "w", "b"}, attributes);
      check_all_thread_counts(model, {x, w, b},
                              reference_conv_transpose(x, w, &b, c.window, c.groups, out_dims));
    }
  }
}

TEST_CASE("ConvTranspose output_shape: a full N,C,... shape is accepted, extra cells get bias") {
  const Tensor x = random_tensor({1, 1, 3, 3}, 10), w = random_tensor({1, 2, 3, 3}, 11);
  const Tensor b = random_tensor({2}, 12);
  const Window no_pads{{3, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}};
  // The full output is 7x7; asking for 8x8 adds a row and a column at the end.
  const Tensor full = reference_conv_transpose(x, w, &b, no_pads, 1, {8, 8});
  for (const Shape& output_shape : {Shape{8, 8}, Shape{1, 2, 8, 8}}) {
    auto model = one_node("ConvTranspose", 11, {"x", "w", "b"},
                          {{"strides", Attribute::of_ints({2, 2})},
                           {"output_shape", Attribute::of_ints(output_shape)}});
    check_close(run_model(model, {x, w, b}, 1).at(0), full);
  }
}

namespace {

Tensor reference_gemm(const Tensor& a, const Tensor& b, const Tensor* c, bool trans_a, bool trans_b,
                      float alpha, float beta) {
  const int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  Tensor y(DType::kFloat32, {m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t l = 0; l < k; ++l)
        sum += static_cast<double>(a.data<float>()[trans_a ? l * m + i : i * k + l]) *
               b.data<float>()[trans_b ? j * k + l : l * n + j];
      double term = 0;
      if (c != nullptr) {
        const Shape& cs = c->shape();
        const int64_t rows = cs.size() == 2 ? cs[0] : 1, cols = cs.empty() ? 1 : cs.back();
        term = c->data<float>()[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
      }
      y.data<float>()[i * n + j] = static_cast<float>(alpha * sum + beta * term);
    }
  return y;
}

}  // namespace

TEST_CASE("Gemm: transposes, alpha, beta and every broadcast of C, tiled over threads") {
  const int64_t m = 400, k = 100, n = 90;  // enough work to be cut into tiles
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true})
      for (const Shape& c_shape :
           {Shape{}, Shape{n}, Shape{1, n}, Shape{m, 1}, Shape{m, n}, Shape{1}}) {
        const Tensor a = random_tensor(trans_a ? Shape{k, m} : Shape{m, k}, 13);
        const Tensor b = random_tensor(trans_b ? Shape{n, k} : Shape{k, n}, 14);
        const Tensor c = random_tensor(c_shape, 15);
        auto model = one_node("Gemm", 13, {"a", "b", "c"},
                              {{"transA", Attribute::of_int(trans_a)},
                               {"transB", Attribute::of_int(trans_b)},
                               {"alpha", Attribute::of_float(0.5f)},
                               {"beta", Attribute::of_float(-2.0f)}});
        check_all_thread_counts(model, {a, b, c},
                                reference_gemm(a, b, &c, trans_a, trans_b, 0.5f, -2.0f));
      }
  const Tensor a = random_tensor({4, 3}, 16), b = random_tensor({3, 5}, 17);
  check_close(run_model(one_node("Gemm", 11, {"a", "b"}, {}), {a, b}, 1).at(0),
              reference_gemm(a, b, nullptr, false, false, 1.0f, 1.0f));
  CHECK(failure_of(one_node("Gemm", 9, {"a", "b"}, {}), {a, b}) == ErrorCode::kInvalidArgument);
  CHECK(failure_of(one_node("Gemm", 13, {"a", "b", "c"}, {}), {a, b, random_tensor({2, 5}, 1)}) ==
        ErrorCode::kShape);
}

namespace {

// numpy.matmul the slow way, for operands whose batch dims are already right-aligned.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  const bool a_vector = as.size() == 1, b_vector = bs.size() == 1;
  if (a_vector) as.insert(as.begin(), 1);
  if (b_vector) bs.push_back(1);
  const size_t rank = std::max(as.size(), bs.size());
  as.insert(as.begin(), rank - as.size(), 1);
  bs.insert(bs.begin(), rank - bs.size(), 1);
  const int64_t m = as[rank - 2], k = as[rank - 1], n = bs[rank - 1];
  Shape batch;
  for (size_t d = 0; d + 2 < rank; ++d) batch.push_back(std::max(as[d], bs[d]));
  Shape out = batch;
  if (!a_vector) out.push_back(m);
  if (!b_vector) out.push_back(n);
  Tensor y(DType::kFloat32, out);
  int64_t e = 0;
  for_each_position(batch, [&](const Shape& pos) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      ia = ia * as[d] + (as[d] == 1 ? 0 : pos[d]);
      ib = ib * bs[d] + (bs[d] == 1 ? 0 : pos[d]);
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t l = 0; l < k; ++l)
          sum += static_cast<double>(a.data<float>()[(ia * m + i) * k + l]) *
                 b.data<float>()[(ib * k + l) * n + j];
        y.data<float>()[e++] = static_cast<float>(sum);
      }
  });
  return y;
}

}  // namespace

TEST_CASE("MatMul broadcasts batch dimensions and treats 1-D operands like numpy") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 1, 3, 4}, {5, 4, 6}},        // both broadcast
      {{4, 1, 64, 128}, {3, 128, 96}},  // enough products to spread over threads
      {{3, 50, 64}, {64, 70}},          // batch folded into rows, tiled
      {{64}, {3, 64, 20}},              // 1-D on the left
      {{2, 3, 64}, {64}},               // 1-D on the right
      {{7}, {7}},                       // dot product: a scalar
      {{1, 1, 4, 5}, {3, 5, 2}},        // A broadcast over B's batch
  };
  for (const auto& [a_shape, b_shape] : cases) {
    const Tensor a = random_tensor(a_shape, 18), b = random_tensor(b_shape, 19);
    check_all_thread_counts(one_node("MatMul", 13, {"a", "b"}, {}), {a, b}, reference_matmul(a, b));
  }
  CHECK(failure_of(one_node("MatMul", 13, {"a", "b"}, {}),
                   {random_tensor({2, 3}, 1), random_tensor({4, 2}, 1)}) == ErrorCode::kShape);
  CHECK(failure_of(one_node("MatMul", 13, {"a", "b"}, {}),
                   {random_tensor({2, 3, 4}, 1), random_tensor({3, 4, 2}, 1)}) ==
        ErrorCode::kShape);
  Tensor ints(DType::kInt32, {2, 2});
  CHECK(failure_of(one_node("MatMul", 13, {"a", "b"}, {}), {ints, ints}) ==
        ErrorCode::kUnsupported);
}

TEST_CASE("BatchNormalization: inference on 2-D and 4-D inputs; training is refused") {
  for (const Shape& x_shape : {Shape{5, 3}, Shape{2, 3, 4, 5}, Shape{16, 3, 64, 64}}) {
    const Tensor x = random_tensor(x_shape, 20), scale = random_tensor({3}, 21);
    const Tensor bias = random_tensor({3}, 22), mean = random_tensor({3}, 23);
    Tensor var = random_tensor({3}, 24);
    for (int c = 0; c < 3; ++c) var.data<float>()[c] = std::fabs(var.data<float>()[c]);
    Tensor expected(DType::kFloat32, x_shape);
    const int64_t plane = x.size() / (x_shape[0] * 3);
    for (int64_t i = 0; i < x.size(); ++i) {
      const int64_t c = i / plane % 3;
      expected.data<float>()[i] = static_cast<float>(
          (x.data<float>()[i] - mean.data<float>()[c]) /
              std::sqrt(static_cast<double>(var.data<float>()[c]) + 1e-3) * scale.data<float>()[c] +
          bias.data<float>()[c]);
    }
    auto model = one_node("BatchNormalization", 15, {"x", "s", "b", "m", "v"},
                          {{"epsilon", Attribute::of_float(1e-3f)}});
    check_all_thread_counts(model, {x, scale, bias, mean, var}, expected);
  }
  const std::vector<std::string> inputs = {"x", "s", "b", "m", "v"};
  const std::vector<Tensor> values = {random_tensor({1, 2, 2}, 1), random_tensor({2}, 2),
                                      random_tensor({2}, 3), random_tensor({2}, 4),
                                      random_tensor({2}, 5)};
  CHECK(failure_of(one_node("BatchNormalization", 9, inputs, {{"spatial", Attribute::of_int(0)}}),
                   values) == ErrorCode::kUnsupported);
  CHECK(failure_of(one_node("BatchNormalization", 9, inputs, {}, {}, {"y", "mean", "var"}),
                   values) == ErrorCode::kUnsupported);
  CHECK(failure_of(one_node("BatchNormalization", 14, inputs,
                            {{"training_mode", Attribute::of_int(1)}}, {}, {"y", "mean", "var"}),
                   values) == ErrorCode::kUnsupported);
  CHECK(failure_of(one_node("BatchNormalization", 14, inputs, {}, {}, {"y", "mean", "var"}),
                   values) == ErrorCode::kInvalidArgument);
}

namespace {

enum class PoolKind { kMax, kAverage, kAverageIncludingPad };

// Pooling with explicit pads and ceil_mode; `out_dims` as the op should compute them.
Tensor reference_pool(const Tensor& x, const Window& w, const Shape& out_dims, PoolKind kind) {
  const Shape in_dims(x.shape().begin() + 2, x.shape().end());
  Shape y_shape = {x.dim(0), x.dim(1)};
  y_shape.insert(y_shape.end(), out_dims.begin(), out_dims.end());
  Tensor y(DType::kFloat32, y_shape);
  const int64_t in_size = element_count(in_dims), out_size = element_count(out_dims);
  Shape i;
  for (int64_t p = 0; p < x.dim(0) * x.dim(1); ++p)
    for_each_position(out_dims, [&](const Shape& o) {
      double sum = 0;
      float best = -std::numeric_limits<float>::infinity();
      int64_t count = 0;
      for_each_position(w.kernel, [&](const Shape& k) {
        if (!tap_input(w, in_dims, o, k, i)) return;
        const float v = x.data<float>()[p * in_size + spatial_offset(in_dims, i)];
        sum += v;
        best = std::max(best, v);
        ++count;
      });
      if (kind == PoolKind::kAverageIncludingPad) {
        count = 1;
        for (size_t d = 0; d < o.size(); ++d) {
          const int64_t start = o[d] * w.strides[d] - w.pads[d];
          const int64_t end = std::min(start + w.kernel[d], in_dims[d] + w.pads[o.size() + d]);
          count *= end - start;
        }
      }
      y.data<float>()[p * out_size + spatial_offset(out_dims, o)] =
          kind == PoolKind::kMax ? best : static_cast<float>(sum / count);
    });
  return y;
}

}  // namespace

TEST_CASE("pools: ceil_mode, dilations, count_include_pad, 1-D and 3-D") {
  struct Case {
    const char* name;
    const char* op;
    PoolKind kind;
    Shape x;
    Window window;
    bool ceil_mode;
    Shape out_dims;
  };
  const std::vector<Case> cases = {
      {"max 2x2 stride 2",
       "MaxPool",
       PoolKind::kMax,
       {8, 16, 28, 28},
       {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}},
       false,
       {14, 14}},
      // Rows of more than 16 windows, an odd width whose last column no window reads, and
      // an odd height: the 2x2 kernel's second vector and its masks.
      {"max 2x2 stride 2, wide odd rows",
       "MaxPool",
       PoolKind::kMax,
       {2, 3, 9, 37},
       {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}},
       false,
       {4, 18}},
      {"max 3x3 stride 2 on narrow rows",
       "MaxPool",
       PoolKind::kMax,
       {2, 3, 9, 7},
       {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       false,
       {5, 4}},
      // ceil_mode: the last window along h reaches past the padded input.
      {"max ceil_mode, dilated",
       "MaxPool",
       PoolKind::kMax,
       {1, 2, 7, 8},
       {{2, 3}, {2, 2}, {1, 0, 0, 1}, {2, 2}},
       true,
       {4, 3}},
      {"max 3-D",
       "MaxPool",
       PoolKind::kMax,
       {1, 2, 5, 4, 6},
       {{2, 2, 3}, {2, 1, 2}, {0, 1, 1, 1, 0, 1}, {1, 1, 1}},
       false,
       {3, 4, 3}},
      {"average ceil_mode with pads",
       "AveragePool",
       PoolKind::kAverage,
       {2, 2, 7, 7},
       {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       true,
       {4, 4}},
      // ceil_mode would add a w window starting in the end padding: it is dropped.
      {"average including pads, ceil_mode",
       "AveragePool",
       PoolKind::kAverageIncludingPad,
       {1, 2, 6, 7},
       {{3, 2}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
       true,
       {4, 4}},
      {"average 1-D",
       "AveragePool",
       PoolKind::kAverage,
       {2, 3, 11},
       {{4}, {3}, {2, 1}, {1}},
       false,
       {4}},
      {"average 3-D including pads",
       "AveragePool",
       PoolKind::kAverageIncludingPad,
       {1, 2, 4, 5, 6},
       {{2, 3, 2}, {1, 2, 2}, {1, 1, 0, 0, 1, 1}, {1, 1, 1}},
       false,
       {4, 3, 3}},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Tensor x = random_tensor(c.x, 25);
      // MaxPool skips NaNs (as ONNX Runtime does); no window here is all NaN.
      if (c.kind == PoolKind::kMax)
        for (int64_t i = 3; i < x.size(); i += 7) x.data<float>()[i] = NAN;
      auto attributes = c.window.attributes();
      if (c.kind != PoolKind::kMax) attributes.erase("dilations");
      attributes["ceil_mode"] = Attribute::of_int(c.ceil_mode);
      if (c.kind == PoolKind::kAverageIncludingPad)
        attributes["count_include_pad"] = Attribute::of_int(1);
      check_all_thread_counts(one_node(c.op, 12, {"x"}, attributes), {x},
                              reference_pool(x, c.window, c.out_dims, c.kind));
    }
  }
}

TEST_CASE("MaxPool Indices in both storage orders, int8 input, opset 9 attributes") {
  // One 3x2 plane per channel; the maximum of each 2x2 window sits at a known place.
  Tensor x(DType::kInt8, {1, 2, 3, 2});
  const std::vector<int8_t> values = {1, 5, -3, 2, 7, -8, /**/ -1, -2, -6, -5, -4, -3};
  std::copy(values.begin(), values.end(), x.data<int8_t>());
  const std::map<std::string, Attribute> window = {{"kernel_shape", Attribute::of_ints({2, 2})}};
  for (int64_t storage_order : {0, 1}) {
    auto attributes = window;
    attributes["storage_order"] = Attribute::of_int(storage_order);
    auto outputs = run_model(one_node("MaxPool", 12, {"x"}, attributes, {}, {"y", "i"}), {x}, 1);
    CHECK(values_of<int8_t>(outputs[0]) == std::vector<int8_t>{5, 7, -1, -3});
    // Elements (h, w): 5 at (0, 1), 7 at (2, 0), -1 at (0, 0), -3 at (2, 1); channel 1 adds 6.
    const std::vector<int64_t> row_major = {1, 4, 6, 11}, column_major = {3, 2, 6, 11};
    CHECK(values_of<int64_t>(outputs[1]) == (storage_order == 0 ? row_major : column_major));
  }
  auto ceil_in_opset_9 = window;
  ceil_in_opset_9["ceil_mode"] = Attribute::of_int(1);
  CHECK(failure_of(one_node("MaxPool", 9, {"x"}, ceil_in_opset_9), {x}) == ErrorCode::kUnsupported);
  auto dilated_average = window;
  dilated_average["dilations"] = Attribute::of_ints({2, 2});
  CHECK(failure_of(one_node("AveragePool", 18, {"x"}, dilated_average),
                   {random_tensor({1, 1, 4, 4}, 1)}) == ErrorCode::kUnsupported);
  CHECK(failure_of(one_node("MaxPool", 12, {"x"}, {}), {x}) == ErrorCode::kInvalidArgument);
}

TEST_CASE("GlobalAveragePool averages each plane of 1-D, 2-D and 3-D inputs") {
  for (const Shape& x_shape :
       {Shape{2, 3, 50}, Shape{2, 3, 7, 9}, Shape{1, 4, 3, 4, 5}, Shape{16, 64, 32, 32}}) {
    const Tensor x = random_tensor(x_shape, 26);
    Shape y_shape(x_shape.size(), 1);
    y_shape[0] = x_shape[0];
    y_shape[1] = x_shape[1];
    Tensor expected(DType::kFloat32, y_shape);
    const int64_t plane = x.size() / expected.size();
    for (int64_t p = 0; p < expected.size(); ++p) {
      double sum = 0;
      for (int64_t i = 0; i < plane; ++i) sum += x.data<float>()[p * plane + i];
      expected.data<float>()[p] = static_cast<float>(sum / plane);
    }
    check_all_thread_counts(one_node("GlobalAveragePool", 9, {"x"}, {}), {x}, expected);
  }
}
