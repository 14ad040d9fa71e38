// Add, Sub, Mul, Div, Pow, Sqrt, Max, Min with numpy broadcasting.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "runtime/ops/broadcast.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

template <typename T>
bool is_nan(T value) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(value);
  else
    return false;
}

// Integer arithmetic wraps around (as in numpy and ONNX Runtime) instead of overflowing,
// which would be undefined behaviour; it is done on the unsigned type.
template <typename T, typename Fn>
T arithmetic(T a, T b, Fn fn) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(fn(static_cast<U>(a), static_cast<U>(b)));
  } else {
    return fn(a, b);
  }
}

// Add, Sub and Mul: `Fn` (std::plus<> ...) through arithmetic().
template <typename Fn>
struct ArithmeticOp {
  template <typename T>
  T operator()(T a, T b) const {
    return arithmetic(a, b, Fn{});
  }
};

// Integer division truncates toward zero (C++, ONNX Runtime).
struct DivOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) fail(ErrorCode::kNumeric, "integer division by zero");
      // The lowest value divided by -1 overflows; its wrapped result is the wrapped negation.
      if (std::is_signed_v<T> && b == T(-1)) return arithmetic(T(0), a, std::minus<>{});
    }
    return static_cast<T>(a / b);
  }
};

// NaN wins, like numpy's maximum/minimum and ONNX Runtime.
struct MaxOp {
  template <typename T>
  T operator()(T a, T b) const {
    return a > b || is_nan(a) ? a : b;
  }
};

struct MinOp {
  template <typename T>
  T operator()(T a, T b) const {
    return a < b || is_nan(a) ? a : b;
  }
};

struct SqrtOp {
  using Types = FloatTypes;
  template <typename T>
  T operator()(T x) const {
    return std::sqrt(x);
  }
};

// Errors raised inside element loops (integer division by zero, ...) name the node.
template <typename Fn>
void with_node_label(const Node& node, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    fail_node(node, e.code(), e.what());
  }
}

// Output = inputs folded left to right through a binary Op, all broadcast together.
template <typename Op>
class BroadcastKernel : public Kernel {
 public:
  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, NumericTypes{});
    Shape shape = ctx.input(0).shape;
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      ctx.expect_dtype(i, ctx.input(0).dtype);
      shape = broadcast_shapes(shape, ctx.input(i).shape, ctx.node().label());
    }
    ctx.set_output(0, ctx.input(0).dtype, shape);
  }

  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    if (ctx.num_inputs() == 1) {
      std::memcpy(out.raw(), ctx.input(0).raw(), out.byte_size());
      return;
    }
    visit_dtype(NumericTypes{}, out.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      with_node_label(ctx.node(), [&] {
        broadcast_binary<T, T, T>(ctx.pool(), ctx.input(0), ctx.input(1), out, Op{});
        for (size_t i = 2; i < ctx.num_inputs(); ++i)
          broadcast_binary<T, T, T>(ctx.pool(), out, ctx.input(i), out, Op{});
      });
    });
  }
};

template <typename Op>
KernelFactory broadcast_factory(size_t min_inputs, size_t max_inputs) {
  return [=](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {});
    require_input_count(node, min_inputs, max_inputs);
    return std::make_unique<BroadcastKernel<Op>>();
  };
}

using PowBaseTypes = TypeList<float, int32_t, int64_t>;

// The largest magnitude a double result converts to T exactly.
template <typename T>
constexpr double kExactLimit = std::min(static_cast<double>(std::numeric_limits<T>::max()),
                                        9007199254740992.0 /* 2^53 */);

// Computed in double: float results are then correctly rounded and integer ones exact.
template <typename T, typename E>
T power(T base, E exponent) {
  double value = std::pow(static_cast<double>(base), static_cast<double>(exponent));
  if constexpr (std::is_integral_v<T>) {
    if (!(std::fabs(value) <= kExactLimit<T>))
      fail(ErrorCode::kNumeric,
           "result " + std::to_string(value) + " does not fit " + dtype_name(dtype_of<T>()));
    return static_cast<T>(value);  // truncates toward zero
  } else {
    return static_cast<T>(value);
  }
}

bool is_scalar_two(const Tensor& t) {
  if (t.size() != 1) return false;
  return t.dtype() == DType::kFloat32 ? t.data<float>()[0] == 2.0f : t.int_at(0) == 2;
}

// Pow: the base's dtype is the output's; the exponent may have any numeric dtype.
class PowKernel : public Kernel {
 public:
  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, PowBaseTypes{});
    require_input_dtype(ctx, 1, NumericTypes{});
    ctx.set_output(0, ctx.input(0).dtype,
                   broadcast_shapes(ctx.input(0).shape, ctx.input(1).shape, ctx.node().label()));
  }

  void run(RunContext& ctx) override {
    const Tensor& base = ctx.input(0);
    const Tensor& exponent = ctx.input(1);
    visit_dtype(PowBaseTypes{}, base.dtype(), [&](auto base_tag) {
      using T = typename decltype(base_tag)::type;
      visit_dtype(NumericTypes{}, exponent.dtype(), [&](auto exponent_tag) {
        using E = typename decltype(exponent_tag)::type;
        // x * x is the correctly rounded square, as pow() would give, and far cheaper.
        if constexpr (std::is_floating_point_v<T>) {
          if (is_scalar_two(exponent)) {
            broadcast_binary<T, E, T>(ctx.pool(), base, exponent, ctx.output(0),
                                      [](T x, E) { return x * x; });
            return;
          }
        }
        with_node_label(ctx.node(), [&] {
          broadcast_binary<T, E, T>(ctx.pool(), base, exponent, ctx.output(0),
                                    [](T x, E y) { return power(x, y); });
        });
      });
    });
  }
};

}  // namespace

void register_elementwise_ops(KernelRegistry& registry) {
  registry.add("Add", broadcast_factory<ArithmeticOp<std::plus<>>>(2, 2));
  registry.add("Sub", broadcast_factory<ArithmeticOp<std::minus<>>>(2, 2));
  registry.add("Mul", broadcast_factory<ArithmeticOp<std::multiplies<>>>(2, 2));
  registry.add("Div", broadcast_factory<DivOp>(2, 2));
  registry.add("Max", broadcast_factory<MaxOp>(1, SIZE_MAX));
  registry.add("Min", broadcast_factory<MinOp>(1, SIZE_MAX));
  registry.add("Sqrt", unary_factory<SqrtOp>());
  registry.add("Pow", [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {});
    require_input_count(node, 2, 2);
    return std::make_unique<PowKernel>();
  });
}

}  // namespace qsim
