// ReduceMean: axes as an attribute before opset 18, as an optional input from opset 18.
#include "runtime/ops/broadcast.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

// Sums n floats `stride` apart in double; contiguous data goes through eight independent
// partial sums, which the compiler vectorizes (a single running sum cannot be reordered).
double sum_floats(const float* x, int64_t n, int64_t stride) {
  double sum = 0.0;
  int64_t i = 0;
  if (stride == 1) {
    constexpr int kLanes = 8;
    double lanes[kLanes] = {};
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < kLanes; ++k) lanes[k] += x[i + k];
    for (double lane : lanes) sum += lane;
  }
  for (; i < n; ++i) sum += x[i * stride];
  return sum;
}

class ReduceMeanKernel : public Kernel {
 public:
  // `attribute_axes` is empty from opset 18, where the axes come from input 1.
  ReduceMeanKernel(std::vector<int64_t> attribute_axes, bool keepdims, bool noop_with_empty_axes)
      : attribute_axes_(std::move(attribute_axes)),
        keepdims_(keepdims),
        noop_with_empty_axes_(noop_with_empty_axes) {}

  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, FloatTypes{});
    const Tensor* axes = nullptr;
    if (ctx.has_input(1)) {
      ctx.expect_dtype(1, DType::kInt64);
      axes = &ctx.constant_input(1, "axes");
    }
    const Shape& shape = ctx.input(0).shape;
    std::vector<bool> reduced = reduced_axes(axes, static_cast<int64_t>(shape.size()), ctx.node());
    Shape out;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!reduced[d])
        out.push_back(shape[d]);
      else if (keepdims_)
        out.push_back(1);
    }
    ctx.set_output(0, DType::kFloat32, out);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Shape& shape = x.shape();
    std::vector<bool> reduced =
        reduced_axes(ctx.has_input(1) ? &ctx.input(1) : nullptr, x.rank(), ctx.node());
    // Output elements walk the kept axes of x; each one's terms walk the reduced axes.
    const std::vector<int64_t> strides = contiguous_strides(shape);
    Shape kept_dims, term_dims;
    std::vector<int64_t> kept_strides, term_strides;
    for (size_t d = 0; d < shape.size(); ++d) {
      (reduced[d] ? term_dims : kept_dims).push_back(shape[d]);
      (reduced[d] ? term_strides : kept_strides).push_back(strides[d]);
    }
    const StridedIndex<1> outputs(kept_dims, {kept_strides});
    const StridedIndex<1> terms(term_dims, {term_strides});
    const auto count = static_cast<double>(terms.size());  // 0 gives NaN means, as numpy
    const float* x_data = x.data<float>();
    float* y = ctx.output(0).data<float>();
    auto mean_at = [&](const float* first_term) {
      double sum = 0.0;
      terms.for_each_run(0, terms.size(),
                         [&](const auto& at, const auto& step, int64_t, int64_t n) {
                           sum += sum_floats(first_term + at[0], n, step[0]);
                         });
      return static_cast<float>(sum / count);
    };
    ctx.pool().parallel_for(
        outputs.size(),
        [&](int64_t begin, int64_t end) {
          outputs.for_each_run(begin, end,
                               [&](const auto& at, const auto& step, int64_t first, int64_t n) {
                                 for (int64_t j = 0; j < n; ++j)
                                   y[first + j] = mean_at(x_data + at[0] + j * step[0]);
                               });
        },
        std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(1, terms.size())));
  }

 private:
  // Which axes of a rank-`rank` input are reduced; no axes means all of them, or none with
  // noop_with_empty_axes.
  std::vector<bool> reduced_axes(const Tensor* axes_input, int64_t rank, const Node& node) const {
    std::vector<int64_t> axes = axes_input ? axes_input->to_int64_vector() : attribute_axes_;
    std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty() && !noop_with_empty_axes_);
    for (int64_t axis : axes) {
      auto d = static_cast<size_t>(normalize_axis(axis, rank, node.label()));
      require_node(!reduced[d], node, ErrorCode::kInvalidArgument,
                   "axis " + std::to_string(axis) + " is given twice");
      reduced[d] = true;
    }
    return reduced;
  }

  std::vector<int64_t> attribute_axes_;
  bool keepdims_;
  bool noop_with_empty_axes_;
};

std::unique_ptr<Kernel> make_reduce_mean(const Node& node, int64_t opset) {
  const bool keepdims = node.get_int("keepdims", 1) != 0;
  if (opset < 18) {
    check_known_attributes(node, {"axes", "keepdims"});
    require_input_count(node, 1, 1);
    return std::make_unique<ReduceMeanKernel>(node.get_ints("axes"), keepdims, false);
  }
  check_known_attributes(node, {"keepdims", "noop_with_empty_axes"});
  require_input_count(node, 1, 2);
  return std::make_unique<ReduceMeanKernel>(std::vector<int64_t>{}, keepdims,
                                            node.get_int("noop_with_empty_axes", 0) != 0);
}

}  // namespace

void register_reduce_ops(KernelRegistry& registry) {
  registry.add("ReduceMean", make_reduce_mean);
}

}  // namespace qsim
