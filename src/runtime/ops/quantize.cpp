// QuantizeLinear and DequantizeLinear: per-tensor (opset 10) or per-axis (opset 13), on 8-bit
// codes, 16-bit ones (opset 21) and int32 (DequantizeLinear only); and ONNX Runtime's
// com.microsoft versions, which take 16-bit codes and an axis at any opset.
#include <cmath>
#include <limits>

#include "runtime/ops/broadcast.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

using QuantizedTypes = TypeList<uint8_t, int8_t, uint16_t, int16_t>;
using DequantizableTypes = TypeList<uint8_t, int8_t, uint16_t, int16_t, int32_t>;

// Element i of x uses scale and zero point element (i / inner) % channels; per-tensor
// parameters are one channel spanning the whole tensor.
struct ChannelLayout {
  int64_t channels;
  int64_t inner;
};

// Calls fn(first, count, channel) for runs of [0, n) that share one channel.
template <typename Fn>
void for_each_channel_run(ThreadPool& pool, int64_t n, ChannelLayout layout, Fn fn) {
  pool.parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t first = begin; first < end;) {
          int64_t block = first / layout.inner;
          int64_t stop = std::min(end, (block + 1) * layout.inner);
          fn(first, stop - first, block % layout.channels);
          first = stop;
        }
      },
      kMinParallelElements);
}

// A scalar or a one-element 1-D tensor (ONNX Runtime accepts either for per-tensor values).
bool is_single(const Shape& shape) {
  return shape.size() <= 1 && element_count(shape) == 1;
}

// What both ops share: the `axis` attribute (opset 13) and the scale (input 1) and optional
// zero point (input 2) inputs.
class QuantParams {
 public:
  // `per_axis`: the op has the axis attribute (opset 13 and com.microsoft).
  QuantParams(const Node& node, bool per_axis)
      : axis_(node.get_int("axis", 1)), per_axis_(per_axis) {
    if (per_axis_)
      check_known_attributes(node, {"axis"});
    else
      check_known_attributes(node, {});
    require_input_count(node, 2, 3);
  }

  // Checks scale and zero point against x (input 0).
  void check(const InferContext& ctx) const {
    ctx.expect_dtype(1, DType::kFloat32);
    layout(ctx.input(0).shape, ctx.input(1).shape, ctx.node());
    if (ctx.has_input(2) && ctx.input(2).shape != ctx.input(1).shape &&
        !(is_single(ctx.input(2).shape) && is_single(ctx.input(1).shape)))
      fail_node(ctx.node(), ErrorCode::kShape,
                "zero point " + shape_to_string(ctx.input(2).shape) + " and scale " +
                    shape_to_string(ctx.input(1).shape) + " differ in shape");
  }

  // A single scale is per-tensor; a 1-D one from opset 13 is per-axis and must match x's
  // `axis` dimension.
  ChannelLayout layout(const Shape& x, const Shape& scale, const Node& node) const {
    const int64_t size = element_count(x);
    if (is_single(scale)) return {1, std::max<int64_t>(size, 1)};
    if (!per_axis_ || scale.size() != 1)
      fail_node(node, ErrorCode::kShape,
                "scale " + shape_to_string(scale) +
                    (per_axis_ ? " must be a scalar or 1-D" : " must be a scalar before opset 13"));
    const auto axis =
        static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.size()), node.label()));
    if (scale[0] != x[axis])
      fail_node(node, ErrorCode::kShape,
                "scale " + shape_to_string(scale) + " does not match axis " +
                    std::to_string(axis_) + " of x " + shape_to_string(x));
    return {x[axis], std::max<int64_t>(element_count(Shape(x.begin() + axis + 1, x.end())), 1)};
  }

 private:
  int64_t axis_;
  bool per_axis_;
};

// q = saturate(round_half_even(x / scale) + zero_point). rint rounds half to even in the
// default rounding mode like nearbyint, but compiles to a vector instruction. NaN saturates
// to the lowest code, as in ONNX Runtime (max(lowest, NaN) is lowest here).
template <typename Q>
Q quantize_value(float x, float scale, Q zero_point) {
  float q = std::rint(x / scale) + static_cast<float>(zero_point);
  q = std::max(static_cast<float>(std::numeric_limits<Q>::lowest()), q);
  return static_cast<Q>(std::min(static_cast<float>(std::numeric_limits<Q>::max()), q));
}

class QuantizeKernel : public Kernel {
 public:
  explicit QuantizeKernel(QuantParams params) : params_(params) {}

  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, FloatTypes{});
    params_.check(ctx);
    DType out = DType::kUInt8;
    if (ctx.has_input(2)) {
      require_input_dtype(ctx, 2, QuantizedTypes{});
      out = ctx.input(2).dtype;
    }
    ctx.set_output(0, out, ctx.input(0).shape);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    Tensor& y = ctx.output(0);
    ChannelLayout layout = params_.layout(x.shape(), scale.shape(), ctx.node());
    visit_dtype(QuantizedTypes{}, y.dtype(), [&](auto tag) {
      using Q = typename decltype(tag)::type;
      const float* x_data = x.data<float>();
      const float* scales = scale.data<float>();
      const Q* zero_points = ctx.has_input(2) ? ctx.input(2).data<Q>() : nullptr;
      Q* y_data = y.data<Q>();
      for_each_channel_run(ctx.pool(), x.size(), layout,
                           [&](int64_t first, int64_t count, int64_t c) {
                             const float s = scales[c];
                             const Q z = zero_points ? zero_points[c] : Q(0);
                             unary_run(x_data + first, y_data + first, count,
                                       [=](float v) { return quantize_value(v, s, z); });
                           });
    });
  }

 private:
  QuantParams params_;
};

// x = (q - zero_point) * scale, the difference taken exactly in integers.
class DequantizeKernel : public Kernel {
 public:
  explicit DequantizeKernel(QuantParams params) : params_(params) {}

  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, DequantizableTypes{});
    params_.check(ctx);
    if (ctx.has_input(2)) ctx.expect_dtype(2, ctx.input(0).dtype);
    ctx.set_output(0, DType::kFloat32, ctx.input(0).shape);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    ChannelLayout layout = params_.layout(x.shape(), scale.shape(), ctx.node());
    visit_dtype(DequantizableTypes{}, x.dtype(), [&](auto tag) {
      using Q = typename decltype(tag)::type;
      // int32 - int32 can overflow int32; narrower codes stay in int32, which vectorizes better.
      using Wide = std::conditional_t<sizeof(Q) < sizeof(int32_t), int32_t, int64_t>;
      const Q* x_data = x.data<Q>();
      const float* scales = scale.data<float>();
      const Q* zero_points = ctx.has_input(2) ? ctx.input(2).data<Q>() : nullptr;
      float* y = ctx.output(0).data<float>();
      for_each_channel_run(
          ctx.pool(), x.size(), layout, [&](int64_t first, int64_t count, int64_t c) {
            const float s = scales[c];
            const Wide z = zero_points ? zero_points[c] : 0;
            unary_run(x_data + first, y + first, count,
                      [=](Q v) { return static_cast<float>(static_cast<Wide>(v) - z) * s; });
          });
    });
  }

 private:
  QuantParams params_;
};

}  // namespace

void register_quantize_ops(KernelRegistry& registry) {
  registry.add("QuantizeLinear", [](const Node& node, int64_t opset) -> std::unique_ptr<Kernel> {
    return std::make_unique<QuantizeKernel>(QuantParams(node, opset >= 13));
  });
  registry.add("DequantizeLinear", [](const Node& node, int64_t opset) -> std::unique_ptr<Kernel> {
    return std::make_unique<DequantizeKernel>(QuantParams(node, opset >= 13));
  });
  registry.add(
      "QuantizeLinear",
      [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
        return std::make_unique<QuantizeKernel>(QuantParams(node, true));
      },
      kMicrosoftDomain);
  registry.add(
      "DequantizeLinear",
      [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
        return std::make_unique<DequantizeKernel>(QuantParams(node, true));
      },
      kMicrosoftDomain);
}

}  // namespace qsim
