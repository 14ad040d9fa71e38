// BatchNormalization in inference mode on float32:
//   y = (x - mean) / sqrt(var + epsilon) * scale + B
// folded per channel (in double) into y = x * a + b.
// LayerNormalization (opset 17) on float32: each row of the trailing dimensions from `axis` on
//   y = (x - mean) / sqrt(var + epsilon) * Scale + B
// with the row's mean and (biased) variance accumulated in double; the optional Mean and
// InvStdDev outputs hold them per row.
#include <algorithm>
#include <cmath>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/conv_params.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

// Channel planes are handed to threads in chunks of at least this many elements (streaming
// an element costs about as much as 16 of the multiply-adds kMinOpsPerThread counts).
constexpr int64_t kMinChunkElements = kMinOpsPerThread / 16;

class BatchNormKernel : public Kernel {
 public:
  explicit BatchNormKernel(const Node& node) : epsilon_(node.get_float("epsilon", 1e-5f)) {}

  void infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    for (size_t i = 0; i < 5; ++i) ctx.expect_dtype(i, DType::kFloat32);
    const Shape& x = ctx.input(0).shape;
    if (x.size() < 2)
      fail_node(node, ErrorCode::kShape,
                "input " + shape_to_string(x) + " needs a batch and a channel dimension");
    static const char* const kParams[] = {"", "scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i < 5; ++i)
      if (ctx.input(i).shape != Shape{x[1]})
        fail_node(node, ErrorCode::kShape,
                  std::string(kParams[i]) + " " + shape_to_string(ctx.input(i).shape) +
                      " should be [" + std::to_string(x[1]) + "]");
    ctx.set_output(0, DType::kFloat32, x);
    ctx.request_workspace(2 * static_cast<size_t>(x[1]) * sizeof(float));
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t channels = x.dim(1);
    const int64_t plane = x.size() / std::max<int64_t>(1, x.dim(0) * channels);
    float* multiplier = static_cast<float*>(ctx.workspace());
    float* shift = multiplier + channels;
    fold_parameters(ctx, channels, multiplier, shift);
    const float* in = x.data<float>();
    float* out = ctx.output(0).data<float>();
    parallel_for_in_place(
        ctx.pool(), x.dim(0) * channels,
        [&](int64_t first, int64_t last) {
          for (int64_t p = first; p < last; ++p) {
            const float a = multiplier[p % channels];
            const float b = shift[p % channels];
            const float* src = in + p * plane;
            float* dst = out + p * plane;
            for (int64_t i = 0; i < plane; ++i) dst[i] = src[i] * a + b;
          }
        },
        std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(1, plane)));
  }

 private:
  void fold_parameters(const RunContext& ctx, int64_t channels, float* multiplier,
                       float* shift) const {
    const float* scale = ctx.input(1).data<float>();
    const float* bias = ctx.input(2).data<float>();
    const float* mean = ctx.input(3).data<float>();
    const float* var = ctx.input(4).data<float>();
    for (int64_t c = 0; c < channels; ++c) {
      const double a = scale[c] / std::sqrt(static_cast<double>(var[c]) + epsilon_);
      multiplier[c] = static_cast<float>(a);
      shift[c] = static_cast<float>(bias[c] - mean[c] * a);
    }
  }

  float epsilon_;
};

bool has_extra_outputs(const Node& node) {
  for (size_t i = 1; i < node.outputs.size(); ++i)
    if (!node.outputs[i].empty()) return true;
  return false;
}

std::unique_ptr<Kernel> make_batch_norm(const Node& node, int64_t opset) {
  if (opset < 14) {
    // Training outputs (mean, var, saved mean, saved var) are what mark training here.
    check_known_attributes(node, {"epsilon", "momentum", "spatial"});
    require_node(node.get_int("spatial", 1) == 1, node, ErrorCode::kUnsupported,
                 "spatial=0 (per-activation statistics) is not supported");
    require_node(!has_extra_outputs(node), node, ErrorCode::kUnsupported,
                 "training mode (running mean/var outputs) is not supported");
  } else {
    check_known_attributes(node, {"epsilon", "momentum", "training_mode"});
    require_node(node.get_int("training_mode", 0) == 0, node, ErrorCode::kUnsupported,
                 "training_mode=1 is not supported");
    require_node(!has_extra_outputs(node), node, ErrorCode::kInvalidArgument,
                 "running mean/var outputs are only valid with training_mode=1");
  }
  return std::make_unique<BatchNormKernel>(node);
}

// Scale and B cover the normalized (trailing) dimensions: their shape is X.shape[axis:] with
// leading dimensions of size 1 possibly dropped (a broadcast that repeats nothing).
bool covers_row(const Shape& param, const Shape& x, size_t axis) {
  if (param.size() > x.size() - axis) return false;
  const size_t lead = x.size() - param.size();
  for (size_t i = 0; i < param.size(); ++i)
    if (param[i] != x[lead + i]) return false;
  return element_count(param) == element_count(Shape(x.begin() + axis, x.end()));
}

class LayerNormKernel : public Kernel {
 public:
  explicit LayerNormKernel(const Node& node)
      : axis_(node.get_int("axis", -1)), epsilon_(node.get_float("epsilon", 1e-5f)) {}

  void infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    ctx.expect_dtype(0, DType::kFloat32);
    ctx.expect_dtype(1, DType::kFloat32);
    if (ctx.has_input(2)) ctx.expect_dtype(2, DType::kFloat32);
    const Shape& x = ctx.input(0).shape;
    const auto axis =
        static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.size()), node.label()));
    static const char* const kParams[] = {"", "Scale", "B"};
    for (size_t i = 1; i < 3; ++i)
      if (ctx.has_input(i) && !covers_row(ctx.input(i).shape, x, axis))
        fail_node(node, ErrorCode::kShape,
                  std::string(kParams[i]) + " " + shape_to_string(ctx.input(i).shape) +
                      " does not match the normalized dimensions of " + shape_to_string(x) +
                      " from axis " + std::to_string(axis));
    ctx.set_output(0, DType::kFloat32, x);
    // Mean and InvStdDev: X's shape with the normalized dimensions set to 1.
    Shape stats = x;
    std::fill(stats.begin() + static_cast<std::ptrdiff_t>(axis), stats.end(), 1);
    for (size_t i = 1; i < 3; ++i)
      if (i < node.outputs.size() && !node.outputs[i].empty())
        ctx.set_output(i, DType::kFloat32, stats);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const auto axis = static_cast<size_t>(
        normalize_axis(axis_, static_cast<int64_t>(x.shape().size()), ctx.node().label()));
    const int64_t row = element_count(Shape(x.shape().begin() + axis, x.shape().end()));
    const int64_t rows = row == 0 ? 0 : x.size() / row;
    const float* in = x.data<float>();
    const float* scale = ctx.input(1).data<float>();
    const float* bias = ctx.has_input(2) ? ctx.input(2).data<float>() : nullptr;
    float* out = ctx.output(0).data<float>();
    float* mean = ctx.has_output(1) ? ctx.output(1).data<float>() : nullptr;
    float* inv_std = ctx.has_output(2) ? ctx.output(2).data<float>() : nullptr;
    ctx.pool().parallel_for(
        rows,
        [&](int64_t first, int64_t last) {
          for (int64_t r = first; r < last; ++r) {
            const Stats stats = normalize_row(in + r * row, out + r * row, row, scale, bias);
            if (mean != nullptr) mean[r] = static_cast<float>(stats.mean);
            if (inv_std != nullptr) inv_std[r] = static_cast<float>(stats.inv_std);
          }
        },
        std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(1, row)));
  }

 private:
  // Two passes (mean, then the mean of squared deviations) in double: no cancellation.
  struct Stats {
    double mean;
    double inv_std;
  };

  Stats normalize_row(const float* x, float* y, int64_t n, const float* scale,
                      const float* bias) const {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += x[i];
    const double mean = sum / static_cast<double>(n);
    double squares = 0.0;
    for (int64_t i = 0; i < n; ++i) squares += (x[i] - mean) * (x[i] - mean);
    const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(n) + epsilon_);
    for (int64_t i = 0; i < n; ++i) {
      const double v = (x[i] - mean) * inv_std * scale[i] + (bias != nullptr ? bias[i] : 0.0);
      y[i] = static_cast<float>(v);
    }
    return {mean, inv_std};
  }

  int64_t axis_;
  float epsilon_;
};

std::unique_ptr<Kernel> make_layer_norm(const Node& node, int64_t /*opset*/) {
  check_known_attributes(node, {"axis", "epsilon", "stash_type"});
  require_input_count(node, 2, 3);
  require_node(node.get_int("stash_type", 1) == 1, node, ErrorCode::kUnsupported,
               "stash_type " + std::to_string(node.get_int("stash_type", 1)) +
                   " (only float32 statistics, 1, are supported)");
  require_node(node.outputs.size() <= 3, node, ErrorCode::kInvalidArgument,
               "at most three outputs (Y, Mean, InvStdDev)");
  return std::make_unique<LayerNormKernel>(node);
}

}  // namespace

void register_normalization_ops(KernelRegistry& registry) {
  registry.add("BatchNormalization", make_batch_norm);
  registry.add("LayerNormalization", make_layer_norm);
}

}  // namespace qsim
