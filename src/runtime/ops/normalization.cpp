// BatchNormalization in inference mode on float32:
//   y = (x - mean) / sqrt(var + epsilon) * scale + B
// folded per channel (in double) into y = x * a + b.
#include <cmath>

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

}  // namespace

void register_normalization_ops(KernelRegistry& registry) {
  registry.add("BatchNormalization", make_batch_norm);
}

}  // namespace qsim
