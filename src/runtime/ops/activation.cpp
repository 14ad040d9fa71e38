// Relu, LeakyRelu, PRelu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh, Erf, Softmax.
#include <cmath>
#include <limits>
#include <optional>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/epilogue.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

// The expressions of FusedConv's epilogue (epilogue.h), so that fusing changes no bit.
// `x < 0 ? 0 : x` keeps NaN (a comparison with NaN is false), as the ONNX reference does.
struct ReluOp {
  using Types = SignedTypes;
  template <typename T>
  T operator()(T x) const {
    ReluActivation{}(x);
    return x;
  }
};

struct LeakyReluOp {
  using Types = FloatTypes;
  float alpha;
  float operator()(float x) const { return x < 0.0f ? alpha * x : x; }
};

// With e = exp(-|x|), which cannot overflow: sigmoid(|x|) = 1 / (1 + e) and
// sigmoid(-|x|) = e / (1 + e), both accurate to float precision over the whole range.
struct SigmoidOp {
  using Types = FloatTypes;
  float operator()(float x) const {
    float e = std::exp(-std::fabs(x));
    float positive = 1.0f / (1.0f + e);
    return x < 0.0f ? e * positive : positive;
  }
};

struct TanhOp {
  using Types = FloatTypes;
  float operator()(float x) const { return std::tanh(x); }
};

// The error function, as transformers' exported GELU (x * 0.5 * (1 + Erf(x / sqrt(2)))) uses it.
struct ErfOp {
  using Types = FloatTypes;
  float operator()(float x) const { return std::erf(x); }
};

struct HardSigmoidOp {
  using Types = FloatTypes;
  float alpha;
  float beta;
  float operator()(float x) const { return std::max(0.0f, std::min(1.0f, alpha * x + beta)); }
};

// ONNX defines HardSwish as x * HardSigmoid(x) with alpha = 1/6 and beta = 0.5 (its function
// body); so it multiplies by the float 1/6 rather than dividing by 6. FusedConv's epilogue
// computes it, and a fused HardSigmoid + Mul pair, with these expressions.
struct HardSwishOp {
  using Types = FloatTypes;
  float operator()(float x) const {
    HardSwishActivation{1.0f / 6.0f, 0.5f}(x);
    return x;
  }
};

// The factory of a UnaryKernel whose op is made from the node's attributes by `make_op`,
// which also rejects attributes it does not know.
template <typename Op>
KernelFactory activation_factory(Op (*make_op)(const Node&)) {
  return [=](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    require_input_count(node, 1, 1);
    return std::make_unique<UnaryKernel<Op>>(make_op(node));
  };
}

// PRelu: slope broadcasts to x's shape (unidirectionally).
class PReluKernel : public Kernel {
 public:
  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, FloatTypes{});
    ctx.expect_dtype(1, DType::kFloat32);
    const Shape& x = ctx.input(0).shape;
    const Shape& slope = ctx.input(1).shape;
    if (broadcast_shapes(x, slope, ctx.node().label()) != x)
      fail_node(
          ctx.node(), ErrorCode::kShape,
          "slope " + shape_to_string(slope) + " does not broadcast to x " + shape_to_string(x));
    ctx.set_output(0, DType::kFloat32, x);
  }

  void run(RunContext& ctx) override {
    broadcast_binary<float, float, float>(
        ctx.pool(), ctx.input(0), ctx.input(1), ctx.output(0),
        [](float x, float slope) { return x < 0.0f ? slope * x : x; });
  }
};

// Clip: bounds are attributes before opset 11 and optional scalar inputs from opset 11.
class ClipKernel : public Kernel {
 public:
  // Before opset 11: the attribute bounds (defaults: the float range).
  ClipKernel(float min, float max) : attribute_bounds_(std::in_place, min, max) {}
  ClipKernel() = default;

  void infer(InferContext& ctx) override {
    if (attribute_bounds_) {
      require_input_dtype(ctx, 0, FloatTypes{});
    } else {
      require_input_dtype(ctx, 0, NumericTypes{});
      for (size_t i = 1; i < 3; ++i) check_bound_input(ctx, i);
    }
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    visit_dtype(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T low = bound<T>(ctx, 1, std::numeric_limits<T>::lowest());
      const T high = bound<T>(ctx, 2, std::numeric_limits<T>::max());
      // max then min, as numpy.clip (the ONNX reference): min > max gives max; NaN stays NaN.
      map_elements(ctx.pool(), x.data<T>(), ctx.output(0).data<T>(), x.size(),
                   [=](T v) { return std::min(std::max(v, low), high); });
    });
  }

 private:
  static void check_bound_input(const InferContext& ctx, size_t i) {
    if (!ctx.has_input(i)) return;
    ctx.expect_dtype(i, ctx.input(0).dtype);
    if (element_count(ctx.input(i).shape) != 1)
      fail_node(ctx.node(), ErrorCode::kShape,
                "bound '" + ctx.node().inputs[i] + "' must be a scalar, got " +
                    shape_to_string(ctx.input(i).shape));
  }

  // Input i (1 = min, 2 = max) or the attribute before opset 11, else `fallback`.
  template <typename T>
  T bound(const RunContext& ctx, size_t i, T fallback) const {
    if (attribute_bounds_)
      return static_cast<T>(i == 1 ? attribute_bounds_->first : attribute_bounds_->second);
    return ctx.has_input(i) ? ctx.input(i).data<T>()[0] : fallback;
  }

  std::optional<std::pair<float, float>> attribute_bounds_;
};

std::unique_ptr<Kernel> make_clip(const Node& node, int64_t opset) {
  if (opset < 11) {
    check_known_attributes(node, {"min", "max"});
    require_input_count(node, 1, 1);
    return std::make_unique<ClipKernel>(node.get_float("min", std::numeric_limits<float>::lowest()),
                                        node.get_float("max", std::numeric_limits<float>::max()));
  }
  check_known_attributes(node, {});
  require_input_count(node, 1, 3);
  return std::make_unique<ClipKernel>();
}

// Softmax over `axis`: from opset 13 along that one axis; before, over the input coerced to
// 2-D at `axis` (all axes from `axis` on form one row).
class SoftmaxKernel : public Kernel {
 public:
  SoftmaxKernel(int64_t axis, bool coerce_to_2d) : axis_(axis), coerce_to_2d_(coerce_to_2d) {}

  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, FloatTypes{});
    const Shape& shape = ctx.input(0).shape;
    normalize_axis(axis_, static_cast<int64_t>(shape.size()), ctx.node().label());
    ctx.set_output(0, DType::kFloat32, shape);
  }

  void run(RunContext& ctx) override {
    const Shape& shape = ctx.input(0).shape();
    const auto axis = static_cast<size_t>(
        normalize_axis(axis_, static_cast<int64_t>(shape.size()), ctx.node().label()));
    const int64_t outer = element_count(Shape(shape.begin(), shape.begin() + axis));
    const int64_t after = element_count(Shape(shape.begin() + axis + 1, shape.end()));
    // Each line is `length` elements `stride` apart: a row of the 2-D view, or one axis.
    const int64_t length = coerce_to_2d_ ? shape[axis] * after : shape[axis];
    const int64_t stride = coerce_to_2d_ ? 1 : after;
    const int64_t lines_per_outer = coerce_to_2d_ ? 1 : after;
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    ctx.pool().parallel_for(
        outer * lines_per_outer,
        [&](int64_t begin, int64_t end) {
          for (int64_t line = begin; line < end; ++line) {
            int64_t start =
                line / lines_per_outer * lines_per_outer * length + line % lines_per_outer;
            if (stride == 1)
              softmax_line(x + start, y + start, length, std::integral_constant<int64_t, 1>{});
            else
              softmax_line(x + start, y + start, length, stride);
          }
        },
        std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(1, length)));
  }

 private:
  // Subtracting the maximum keeps exp() finite; the sum is accumulated in double. `Stride`
  // is std::integral_constant<int64_t, 1> for contiguous lines, so those loops vectorize.
  template <typename Stride>
  static void softmax_line(const float* x, float* y, int64_t length, Stride stride) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t k = 0; k < length; ++k) max = std::max(max, x[k * stride]);
    double sum = 0.0;
    for (int64_t k = 0; k < length; ++k) {
      float e = std::exp(x[k * stride] - max);
      y[k * stride] = e;
      sum += e;
    }
    const double inverse = 1.0 / sum;
    for (int64_t k = 0; k < length; ++k)
      y[k * stride] = static_cast<float>(y[k * stride] * inverse);
  }

  int64_t axis_;
  bool coerce_to_2d_;
};

std::unique_ptr<Kernel> make_softmax(const Node& node, int64_t opset) {
  check_known_attributes(node, {"axis"});
  require_input_count(node, 1, 1);
  bool coerce_to_2d = opset < 13;
  return std::make_unique<SoftmaxKernel>(node.get_int("axis", coerce_to_2d ? 1 : -1), coerce_to_2d);
}

}  // namespace

void register_activation_ops(KernelRegistry& registry) {
  registry.add("Relu", unary_factory<ReluOp>());
  registry.add("Sigmoid", unary_factory<SigmoidOp>());
  registry.add("Tanh", unary_factory<TanhOp>());
  registry.add("Erf", unary_factory<ErfOp>());
  registry.add("HardSwish", unary_factory<HardSwishOp>());
  registry.add("LeakyRelu", activation_factory<LeakyReluOp>([](const Node& node) {
                 check_known_attributes(node, {"alpha"});
                 return LeakyReluOp{node.get_float("alpha", 0.01f)};
               }));
  registry.add("HardSigmoid", activation_factory<HardSigmoidOp>([](const Node& node) {
                 check_known_attributes(node, {"alpha", "beta"});
                 return HardSigmoidOp{node.get_float("alpha", 0.2f), node.get_float("beta", 0.5f)};
               }));
  registry.add("PRelu", [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {});
    require_input_count(node, 2, 2);
    return std::make_unique<PReluKernel>();
  });
  registry.add("Clip", make_clip);
  registry.add("Softmax", make_softmax);
}

}  // namespace qsim
