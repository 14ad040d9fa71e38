// Conv, FusedConv (a Conv with its bias, a sum input and an activation applied as outputs are
// written; made by the graph rewrite, runtime/graph_fusion.h) and ConvTranspose on float32
// tensors with 1 to 3 spatial dimensions. Ungrouped 1-D and 2-D convolutions use the direct
// kernels of conv_direct.h, depthwise ones the per-plane kernel of depthwise.h; the others go
// through OpenBLAS sgemm (one BLAS thread: qsim threads by splitting the work into tasks).
//
// Work is cut into tasks whose boundaries depend on the shapes only, never on the thread
// count, so every output element is computed by the same arithmetic however many threads run.
#include <algorithm>
#include <map>
#include <mutex>
#include <span>
#include <tuple>

#include "runtime/blas.h"
#include "runtime/ops/broadcast.h"
#include "runtime/ops/conv_direct.h"
#include "runtime/ops/conv_params.h"
#include "runtime/ops/depthwise.h"
#include "runtime/ops/im2col.h"
#include "runtime/registry.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// A task's column block aims at this size, so that im2col leaves it in L2 for sgemm to pack.
constexpr int64_t kColumnBlockBytes = 256 * 1024;
// sgemm packs the weights again for every call, which pays off only over enough columns: a
// task has at least kMinTaskColumns, and images with fewer output positions are batched
// into one product of up to kBatchedTaskColumns.
constexpr int64_t kMinTaskColumns = 128;
constexpr int64_t kBatchedTaskColumns = 256;
// A lone image with work for several threads is cut into up to this many tasks.
constexpr int64_t kLoneImageTasks = 4;

// How many of `units` a task takes: what `budget_units` allows (at least `min_units`), and
// when a lone image is all there is, few enough to give the threads one task each.
int64_t units_per_task(int64_t units, int64_t budget_units, int64_t min_units, bool lone_image,
                       int64_t total_ops) {
  int64_t per_task = std::max(budget_units, min_units);
  if (lone_image) {
    const int64_t tasks = std::clamp<int64_t>(total_ops / kMinOpsPerThread, 1, kLoneImageTasks);
    per_task = std::min(per_task, std::max(min_units, ceil_div(units, tasks)));
  }
  return std::clamp<int64_t>(per_task, 1, std::max<int64_t>(1, units));
}

// Writes bias[r] (zero without a bias) into `rows` rows of `cols` floats, `stride` apart.
void fill_with_bias(float* out, int64_t rows, int64_t cols, int64_t stride, const float* bias) {
  for (int64_t r = 0; r < rows; ++r)
    std::fill(out + r * stride, out + r * stride + cols, bias == nullptr ? 0.0f : bias[r]);
}

void check_bias(const InferContext& ctx, int64_t channels) {
  if (!ctx.has_input(2)) return;
  ctx.expect_dtype(2, DType::kFloat32);
  if (ctx.input(2).shape != Shape{channels})
    fail_node(ctx.node(), ErrorCode::kShape,
              "bias " + shape_to_string(ctx.input(2).shape) + " should be [" +
                  std::to_string(channels) + "]");
}

const float* bias_data(const RunContext& ctx) {
  return ctx.has_input(2) ? ctx.input(2).data<float>() : nullptr;
}

// Checks X, W ranks and returns W's spatial dims.
std::span<const int64_t> weight_window(const Node& node, const Shape& x, const Shape& w) {
  check_spatial_rank(node, x);
  if (w.size() != x.size())
    fail_node(node, ErrorCode::kShape,
              "weights " + shape_to_string(w) + " do not match input " + shape_to_string(x));
  for (int64_t d : w)
    if (d < 1)
      fail_node(
          node, ErrorCode::kShape,
          "weights " + shape_to_string(w) + " have an empty dimension; every size must be >= 1");
  return std::span<const int64_t>(w).subspan(2);
}

int64_t parse_group(const Node& node) {
  const int64_t group = node.get_int("group", 1);
  require_node(group >= 1, node, ErrorCode::kInvalidArgument, "group must be >= 1");
  return group;
}

Shape output_shape(int64_t batch, int64_t channels, const Shape& spatial) {
  Shape y = {batch, channels};
  y.insert(y.end(), spatial.begin(), spatial.end());
  return y;
}

// ----- Conv: Y[n, m] = bias[m] + W[m] * X[n, group of m] -----

struct ConvSetup {
  WindowGeometry g;
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t filters = 0;
  int64_t groups = 1;
  // A task is one group of `task_images` whole images batched into one product, or of one
  // image's output rows [r, r + task_rows).
  int64_t task_images = 1;
  int64_t task_rows = 1;

  int64_t group_channels() const { return channels / groups; }
  int64_t group_filters() const { return filters / groups; }
  int64_t col_rows() const { return group_channels() * g.kernel_size(); }
  bool depthwise() const { return groups > 1 && groups == channels; }
  // A 1x1 window with unit strides and no padding: an image is its own column matrix.
  bool pointwise() const {
    for (int d = 0; d < kMaxSpatialRank; ++d)
      if (g.kernel[d] != 1 || g.stride[d] != 1 || g.pad_begin[d] != 0 || g.pad_end[d] != 0)
        return false;
    return true;
  }
  bool batched() const { return task_images > 1; }
  bool copies_columns() const { return !pointwise() || batched(); }
  int64_t task_columns() const { return task_images * task_rows * g.out[2]; }
  int64_t row_tasks() const { return ceil_div(g.out_rows(), task_rows); }
  int64_t task_count() const { return ceil_div(batch, task_images) * groups * row_tasks(); }

  // Scratch per thread: the column block, the product of a batched task, im2col's own.
  int64_t col_floats() const { return copies_columns() ? col_rows() * task_columns() : 0; }
  int64_t product_floats() const { return batched() ? group_filters() * task_columns() : 0; }
  size_t im2col_offset() const { return (col_floats() + product_floats()) * sizeof(float); }
  size_t scratch_bytes() const {
    if (depthwise()) return plane_layout(g, sizeof(float)).scratch_bytes();
    return im2col_offset() + (copies_columns() ? im2col_scratch_bytes(g) : 0);
  }

  void choose_tasks() {
    const int64_t out_size = g.out_size();
    const int64_t column_bytes = std::max<int64_t>(1, col_rows()) * sizeof(float);
    if (out_size < kMinTaskColumns) {
      task_rows = g.out_rows();
      task_images = std::clamp<int64_t>(
          std::min(kBatchedTaskColumns, kColumnBlockBytes / column_bytes) / out_size, 1,
          std::max<int64_t>(1, batch));
      return;
    }
    const int64_t width = g.out[2];
    task_rows = units_per_task(g.out_rows(), kColumnBlockBytes / (column_bytes * width),
                               ceil_div(kMinTaskColumns, width), batch * groups == 1,
                               filters * col_rows() * out_size);
  }
};

// One task of a GEMM convolution: images [first_image, first_image + images) of one group,
// output rows [row_begin, row_end).
struct ConvTask {
  int64_t group;
  int64_t first_image;
  int64_t images;
  int64_t row_begin;
  int64_t row_end;
};

ConvTask conv_task(const ConvSetup& s, int64_t t) {
  const int64_t row_tasks = s.row_tasks();
  ConvTask task;
  task.row_begin = t % row_tasks * s.task_rows;
  task.row_end = std::min(s.g.out_rows(), task.row_begin + s.task_rows);
  task.group = t / row_tasks % s.groups;
  task.first_image = t / (row_tasks * s.groups) * s.task_images;
  task.images = std::min(s.batch, task.first_image + s.task_images) - task.first_image;
  return task;
}

ConvSetup conv_setup(const Node& node, const WindowAttributes& attrs, int64_t groups,
                     const Shape& x, const Shape& w) {
  ConvSetup s;
  s.g = forward_window(node, attrs, x, weight_window(node, x, w));
  s.batch = x[0];
  s.channels = x[1];
  s.filters = w[0];
  s.groups = groups;
  if (w[1] * groups != x[1] || w[0] % groups != 0)
    fail_node(node, ErrorCode::kShape,
              "weights " + shape_to_string(w) + " with group " + std::to_string(groups) +
                  " do not fit input " + shape_to_string(x));
  s.choose_tasks();
  return s;
}

// The input of a FusedConv added to its outputs before the activation (an Add's other
// operand).
constexpr size_t kSumInput = 3;

// How a convolution runs: a direct kernel (conv_direct.h), the blocked depthwise kernel, or
// the general ones (im2col + sgemm, the per-plane depthwise kernel) followed by a separate
// pass for what a FusedConv adds.
enum class ConvMethod { kFlat, kWindow, kBlockedDepthwise, kGeneral };

ConvMethod conv_method(const ConvSetup& s, bool has_sum) {
  switch (direct_conv_path(s.g, s.groups)) {
    case DirectConvPath::kFlat:
      return ConvMethod::kFlat;
    case DirectConvPath::kWindow:
      return ConvMethod::kWindow;
    default:
      break;
  }
  const bool one_filter_per_channel = s.depthwise() && s.group_filters() == 1;
  return one_filter_per_channel && !has_sum && BlockedWindow::fits(s.g)
             ? ConvMethod::kBlockedDepthwise
             : ConvMethod::kGeneral;
}

class ConvKernel : public Kernel {
 public:
  ConvKernel(const Node& node, const Activation& activation)
      : attrs_(parse_window_attributes(node)),
        groups_(parse_group(node)),
        activation_(activation) {}

  void infer(InferContext& ctx) override {
    ctx.expect_dtype(0, DType::kFloat32);
    ctx.expect_dtype(1, DType::kFloat32);
    const ConvSetup s =
        conv_setup(ctx.node(), attrs_, groups_, ctx.input(0).shape, ctx.input(1).shape);
    check_bias(ctx, s.filters);
    const Shape y = output_shape(s.batch, s.filters, s.g.out_shape());
    const Shape out = summed_shape(ctx, y);
    ctx.set_output(0, DType::kFloat32, out);
    const bool fused_sum = ctx.has_input(kSumInput) && ctx.input(kSumInput).shape == y;
    const ConvMethod method = conv_method(s, fused_sum);
    const size_t staging = out == y ? 0 : element_count(y) * sizeof(float);
    ctx.request_workspace(round_to_line(scratch_bytes(s, method)) * ctx.num_threads() + staging);
    if (method == ConvMethod::kGeneral) return;
    constant_weights_ =
        ctx.input(1).constant != nullptr && (!ctx.has_input(2) || ctx.input(2).constant != nullptr);
    PackedConvWeights unused;  // constant weights are never packed into it
    if (constant_weights_)
      packed_weights(method, s, ctx.input(1).constant->data<float>(),
                     ctx.has_input(2) ? ctx.input(2).constant->data<float>() : nullptr, unused);
  }

  // A sum input of the convolution's shape is added as outputs are written; one that
  // broadcasts is added by a separate pass, after the convolution has gone to the output or,
  // when the sum makes the output larger, to the workspace.
  void run(RunContext& ctx) override {
    const ConvSetup s =
        conv_setup(ctx.node(), attrs_, groups_, ctx.input(0).shape(), ctx.input(1).shape());
    const Shape y_shape = output_shape(s.batch, s.filters, s.g.out_shape());
    const Tensor* z = ctx.has_input(kSumInput) ? &ctx.input(kSumInput) : nullptr;
    Tensor& out = ctx.output(0);
    if (z == nullptr || z->shape() == y_shape) {
      const ConvMethod method = conv_method(s, z != nullptr);
      compute(ctx, s, method, z == nullptr ? nullptr : z->data<float>(), activation_,
              out.data<float>());
      return;
    }
    const ConvMethod method = conv_method(s, false);
    const size_t staging = round_to_line(scratch_bytes(s, method)) * ctx.pool().size();
    Tensor y = out.shape() == y_shape
                   ? out
                   : Tensor::view(DType::kFloat32, y_shape,
                                  static_cast<std::byte*>(ctx.workspace()) + staging);
    compute(ctx, s, method, nullptr, Activation{}, y.data<float>());
    broadcast_binary<float, float, float>(ctx.pool(), y, *z, out,
                                          [](float a, float b) { return a + b; });
    apply_epilogue(activation_, nullptr, out.data<float>(), out.size());
  }

 private:
  // The output's shape: the convolution's, broadcast with a FusedConv's sum input.
  static Shape summed_shape(const InferContext& ctx, const Shape& y) {
    if (!ctx.has_input(kSumInput)) return y;
    ctx.expect_dtype(kSumInput, DType::kFloat32);
    return broadcast_shapes(y, ctx.input(kSumInput).shape, ctx.node().label());
  }

  static size_t scratch_bytes(const ConvSetup& s, ConvMethod method) {
    switch (method) {
      case ConvMethod::kFlat:
      case ConvMethod::kWindow:
        return direct_conv(s, method).scratch_bytes();
      case ConvMethod::kBlockedDepthwise:
        return BlockedWindow(s.g).scratch_bytes();
      default:
        return s.scratch_bytes();
    }
  }

  // y = activation(convolution + z), z of y's shape or nullptr.
  void compute(RunContext& ctx, const ConvSetup& s, ConvMethod method, const float* z,
               const Activation& activation, float* y) {
    const float* x = ctx.input(0).data<float>();
    const float* w = ctx.input(1).data<float>();
    const float* bias = bias_data(ctx);
    PackedConvWeights run_time;  // packed for this run alone when the weights are not constant
    switch (method) {
      case ConvMethod::kFlat:
      case ConvMethod::kWindow:
        return run_direct(ctx, s, method, x, packed_weights(method, s, w, bias, run_time), z,
                          activation, y);
      case ConvMethod::kBlockedDepthwise:
        return run_blocked_depthwise(ctx, s, x, packed_weights(method, s, w, bias, run_time),
                                     activation, y);
      case ConvMethod::kGeneral:
        break;
    }
    if (s.depthwise()) {
      run_depthwise(ctx, s, x, w, bias, y);
    } else {
      run_gemm(ctx, s, x, w, bias, y);
    }
    if (z != nullptr || activation.kind != Activation::Kind::kNone)
      apply_epilogue(activation, z, y,
                     element_count(output_shape(s.batch, s.filters, s.g.out_shape())));
  }

  static DirectConv direct_conv(const ConvSetup& s, ConvMethod method) {
    return DirectConv(method == ConvMethod::kFlat ? DirectConvPath::kFlat : DirectConvPath::kWindow,
                      s.g, s.batch, s.channels, s.filters);
  }

  // Filters per packed block: the kernel's vector of filters, which is the path's vector width
  // for the window kernel but always BlockedWindow::kBlock for the blocked depthwise one.
  static int64_t packing_block(ConvMethod method) {
    switch (method) {
      case ConvMethod::kFlat:
        return filter_block(DirectConvPath::kFlat);
      case ConvMethod::kWindow:
        return filter_block(DirectConvPath::kWindow);
      default:
        return BlockedWindow::kBlock;
    }
  }

  // The weights packed for `method`. Constant weights are packed once per copy and kept: a
  // plan folds its own copy of a computed constant (a DequantizeLinear of an initializer), and
  // the plans of one sliced run (Engine::run_sliced) execute at once on different threads, so
  // the cache is keyed by the copy and guarded. Run-time weights are packed into `run_time`,
  // which belongs to the calling run alone. A depthwise layer packs like a convolution over
  // one channel.
  const PackedConvWeights& packed_weights(ConvMethod method, const ConvSetup& s, const float* w,
                                          const float* bias, PackedConvWeights& run_time) {
    const int64_t block = packing_block(method);
    const auto pack = [&] {
      return pack_conv_weights(block, w, bias, s.filters, s.group_channels(), s.g.kernel_size());
    };
    if (!constant_weights_) return run_time = pack();
    const PackedKey key{method == ConvMethod::kFlat ? 0 : 1, w, bias};
    std::lock_guard<std::mutex> lock(packed_mutex_);
    auto it = packed_.find(key);
    if (it == packed_.end()) it = packed_.emplace(key, pack()).first;
    return it->second;  // map entries stay where they are while others are added
  }

  static void run_direct(RunContext& ctx, const ConvSetup& s, ConvMethod method, const float* x,
                         const PackedConvWeights& packed, const float* z,
                         const Activation& activation, float* y) {
    const DirectConv conv = direct_conv(s, method);
    run_tasks(
        ctx, conv.task_count(), conv.ops_per_task(), conv.scratch_bytes(),
        [&](std::byte* scratch) { conv.prepare_scratch(scratch); },
        [&](int64_t t, std::byte* scratch) {
          conv.run_task(t, x, packed, z, activation, y, scratch);
        });
  }

  // One task per block of 16 channels of an image.
  static void run_blocked_depthwise(RunContext& ctx, const ConvSetup& s, const float* x,
                                    const PackedConvWeights& packed, const Activation& activation,
                                    float* y) {
    const BlockedWindow conv(s.g);
    constexpr int64_t kBlock = BlockedWindow::kBlock;
    const int64_t blocks = ceil_div(s.channels, kBlock);
    const int64_t taps = s.g.kernel_size();
    run_tasks(
        ctx, s.batch * blocks, kBlock * taps * s.g.out_size(), conv.scratch_bytes(),
        [&](std::byte* scratch) { conv.prepare_scratch(0.0f, scratch); },
        [&](int64_t t, std::byte* scratch) {
          const int64_t n = t / blocks;
          const int64_t first = t % blocks * kBlock;
          conv.run_depthwise(
              x + (n * s.channels + first) * s.g.in_size(), std::min(kBlock, s.channels - first),
              packed.weights.data<float>() + first * taps, packed.bias.data<float>() + first,
              activation, scratch, y + (n * s.channels + first) * s.g.out_size());
        });
  }

  static void run_gemm(RunContext& ctx, const ConvSetup& s, const float* x, const float* w,
                       const float* bias, float* y) {
    auto prepare = [&](std::byte* scratch) {
      if (s.copies_columns()) prepare_im2col_scratch(s.g, scratch + s.im2col_offset());
    };
    run_tasks(ctx, s.task_count(), s.group_filters() * s.task_columns() * s.col_rows(),
              s.scratch_bytes(), prepare, [&](int64_t t, std::byte* scratch) {
                run_gemm_task(s, conv_task(s, t), x, w, bias, y, scratch);
              });
  }

  // im2col of the task's images and rows (unless a pointwise image is read in place), one
  // sgemm, and for a batched task the spreading of the product over its images.
  static void run_gemm_task(const ConvSetup& s, const ConvTask& task, const float* x,
                            const float* w, const float* bias, float* y, std::byte* scratch) {
    const int64_t out_size = s.g.out_size();
    const int64_t mg = s.group_filters();
    const int64_t k = s.col_rows();
    const int64_t image_cols = (task.row_end - task.row_begin) * s.g.out[2];
    const int64_t cols = task.images * image_cols;
    auto image_of = [&](int64_t n) {
      return x + (n * s.channels + task.group * s.group_channels()) * s.g.in_size();
    };
    auto out_of = [&](int64_t n) { return y + (n * s.filters + task.group * mg) * out_size; };
    const float* group_bias = bias == nullptr ? nullptr : bias + task.group * mg;
    float* col = reinterpret_cast<float*>(scratch);
    float* product = col + s.col_floats();
    const float* b_matrix = image_of(task.first_image) + task.row_begin * s.g.out[2];
    int64_t ldb = s.g.in_size();
    if (s.copies_columns()) {
      for (int64_t i = 0; i < task.images; ++i)
        im2col(s.g, image_of(task.first_image + i), s.group_channels(), task.row_begin,
               task.row_end, col + i * image_cols, cols, scratch + s.im2col_offset());
      b_matrix = col;
      ldb = cols;
    }
    // A lone image's product goes straight into Y, onto the bias (beta 1).
    float* c = s.batched() ? product : out_of(task.first_image) + task.row_begin * s.g.out[2];
    const int64_t ldc = s.batched() ? cols : out_size;
    const bool onto_bias = !s.batched() && group_bias != nullptr;
    if (onto_bias) fill_with_bias(c, mg, cols, ldc, group_bias);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(mg),
                static_cast<int>(cols), static_cast<int>(k), 1.0f, w + task.group * mg * k,
                static_cast<int>(k), b_matrix, static_cast<int>(ldb), onto_bias ? 1.0f : 0.0f, c,
                static_cast<int>(ldc));
    if (s.batched())
      spread_product(product, task.images, mg, out_size, group_bias, out_of(task.first_image),
                     s.filters * out_size);
  }

  // Copies a batched product (filters x images * out_size) into the images' outputs, the
  // first at `out` and each next one `image_stride` further, adding the bias.
  static void spread_product(const float* product, int64_t images, int64_t filters,
                             int64_t out_size, const float* bias, float* out,
                             int64_t image_stride) {
    const int64_t cols = images * out_size;
    for (int64_t i = 0; i < images; ++i)
      for (int64_t m = 0; m < filters; ++m) {
        const float* src = product + m * cols + i * out_size;
        float* dst = out + i * image_stride + m * out_size;
        const float b = bias == nullptr ? 0.0f : bias[m];
        for (int64_t j = 0; j < out_size; ++j) dst[j] = src[j] + b;
      }
  }

  // One task per (image, output channel) plane.
  static void run_depthwise(RunContext& ctx, const ConvSetup& s, const float* x, const float* w,
                            const float* bias, float* y) {
    const int64_t multiplier = s.group_filters();
    const int64_t in_size = s.g.in_size();
    const int64_t out_size = s.g.out_size();
    const int64_t taps = s.g.kernel_size();
    const PlaneLayout layout = plane_layout(s.g, sizeof(float));
    run_tasks(
        ctx, s.batch * s.filters, plane_task_ops(s.g, layout), layout.scratch_bytes(),
        [&](std::byte* scratch) { prepare_plane_scratch(s.g, layout, 0.0f, scratch); },
        [&](int64_t plane, std::byte* scratch) {
          const int64_t n = plane / s.filters;
          const int64_t m = plane % s.filters;
          depthwise_conv_plane(s.g, layout, x + (n * s.channels + m / multiplier) * in_size,
                               w + m * taps, bias == nullptr ? 0.0f : bias[m], scratch,
                               y + plane * out_size);
        });
  }

  // (0 flat, 1 window or blocked depthwise (packing_block); the weights; the bias).
  using PackedKey = std::tuple<int, const float*, const float*>;

  WindowAttributes attrs_;
  int64_t groups_;
  Activation activation_;
  bool constant_weights_ = false;
  std::mutex packed_mutex_;
  std::map<PackedKey, PackedConvWeights> packed_;
};

// ----- ConvTranspose: the adjoint of Conv, as sgemm (W^T X) then col2im -----

struct TransposeSetup {
  WindowGeometry g;  // of the adjoint convolution: g.in is Y's spatial size, g.out X's
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t filters = 0;
  int64_t groups = 1;
  int64_t task_filters = 1;  // a task is one (image, group) and this many of its filters

  int64_t group_channels() const { return channels / groups; }
  int64_t group_filters() const { return filters / groups; }
  int64_t col_floats() const { return task_filters * g.kernel_size() * g.out_size(); }

  void choose_tasks() {
    const int64_t filter_bytes = g.kernel_size() * g.out_size() * sizeof(float);
    task_filters =
        units_per_task(group_filters(), kColumnBlockBytes / filter_bytes, 1, batch * groups == 1,
                       filters * g.kernel_size() * g.out_size() * group_channels());
  }
};

class ConvTransposeKernel : public Kernel {
 public:
  explicit ConvTransposeKernel(const Node& node)
      : attrs_(parse_window_attributes(node)),
        groups_(parse_group(node)),
        output_padding_(node.get_ints("output_padding")),
        output_shape_(node.get_ints("output_shape")) {
    for (int64_t v : output_padding_)
      require_node(v >= 0, node, ErrorCode::kInvalidArgument, "output_padding must be >= 0");
  }

  void infer(InferContext& ctx) override {
    ctx.expect_dtype(0, DType::kFloat32);
    ctx.expect_dtype(1, DType::kFloat32);
    const TransposeSetup s = setup(ctx.node(), ctx.input(0).shape, ctx.input(1).shape);
    check_bias(ctx, s.filters);
    ctx.set_output(0, DType::kFloat32, output_shape(s.batch, s.filters, s.g.in_shape()));
    request_thread_scratch(ctx, s.col_floats() * sizeof(float));
  }

  void run(RunContext& ctx) override {
    const Tensor& x_tensor = ctx.input(0);
    const TransposeSetup s = setup(ctx.node(), x_tensor.shape(), ctx.input(1).shape());
    const float* x = x_tensor.data<float>();
    const float* w = ctx.input(1).data<float>();
    const float* bias = bias_data(ctx);
    float* y = ctx.output(0).data<float>();
    const int64_t filter_tasks = ceil_div(s.group_filters(), s.task_filters);
    const int64_t x_size = s.g.out_size();
    const int64_t y_size = s.g.in_size();
    const int64_t cg = s.group_channels();
    const int64_t mg = s.group_filters();
    const int64_t taps = s.g.kernel_size();
    auto task = [&](int64_t t, std::byte* scratch) {
      float* col = reinterpret_cast<float*>(scratch);
      const int64_t image_group = t / filter_tasks;  // n * groups + group
      const int64_t group = image_group % s.groups;
      const int64_t first = (t % filter_tasks) * s.task_filters;
      const int64_t count = std::min(mg, first + s.task_filters) - first;
      // W is (C, M / group, taps): this group's rows, the columns of its filters
      // [first, first + count).
      const float* weights = w + group * cg * mg * taps + first * taps;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(count * taps),
                  static_cast<int>(x_size), static_cast<int>(cg), 1.0f, weights,
                  static_cast<int>(mg * taps), x + image_group * cg * x_size,
                  static_cast<int>(x_size), 0.0f, col, static_cast<int>(x_size));
      float* out = y + (image_group * mg + first) * y_size;
      fill_with_bias(out, count, y_size, y_size,
                     bias == nullptr ? nullptr : bias + group * mg + first);
      col2im_add(s.g, col, count, out);
    };
    run_tasks(ctx, s.batch * s.groups * filter_tasks, s.col_floats() * cg,
              s.col_floats() * sizeof(float), task);
  }

 private:
  TransposeSetup setup(const Node& node, const Shape& x, const Shape& w) const {
    check_spatial_rank(node, x);  // before anything reads x's N, C or spatial dims
    std::span<const int64_t> output_shape = output_shape_;
    // Some exporters write the full (N, C, spatial...) shape.
    if (output_shape.size() == x.size()) output_shape = output_shape.subspan(2);
    TransposeSetup s;
    s.g =
        transpose_window(node, attrs_, x, weight_window(node, x, w), output_padding_, output_shape);
    s.batch = x[0];
    s.channels = x[1];
    s.filters = w[1] * groups_;
    s.groups = groups_;
    if (w[0] != x[1] || x[1] % groups_ != 0)
      fail_node(node, ErrorCode::kShape,
                "weights " + shape_to_string(w) + " with group " + std::to_string(groups_) +
                    " do not fit input " + shape_to_string(x));
    s.choose_tasks();
    return s;
  }

  WindowAttributes attrs_;
  int64_t groups_;
  std::vector<int64_t> output_padding_;
  std::vector<int64_t> output_shape_;
};

}  // namespace

void register_conv_ops(KernelRegistry& registry) {
  registry.add("Conv", [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node,
                           {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
    return std::make_unique<ConvKernel>(node, Activation{});
  });
  registry.add(
      "FusedConv",
      [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
        check_known_attributes(node, {"activation", "activation_params", "auto_pad", "dilations",
                                      "group", "kernel_shape", "pads", "strides"});
        return std::make_unique<ConvKernel>(node, parse_activation(node));
      },
      kQsimDomain);
  registry.add("ConvTranspose", [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {"auto_pad", "dilations", "group", "kernel_shape",
                                  "output_padding", "output_shape", "pads", "strides"});
    return std::make_unique<ConvTransposeKernel>(node);
  });
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
