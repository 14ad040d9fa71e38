// MaxPool (float32, uint8, int8; optional Indices), AveragePool and GlobalAveragePool
// (float32), with 1 to 3 spatial dimensions. Each (image, channel) plane is one task; the
// windowed pools are per-plane window ops like a depthwise convolution (see depthwise.h)
// with a max or a sum for the multiply-add. A float MaxPool without Indices that
// BlockedWindow takes runs on blocks of 16 channels instead.
#include <algorithm>
#include <limits>

#include "runtime/ops/conv_params.h"
#include "runtime/ops/depthwise.h"
#include "runtime/ops/simd.h"
#include "runtime/registry.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

Shape pooled_shape(const Shape& x, const WindowGeometry& g) {
  Shape y = {x[0], x[1]};
  for (int64_t d : g.out_shape()) y.push_back(d);
  return y;
}

// Shared by MaxPool and AveragePool: attributes and output geometry.
class WindowPoolKernel : public Kernel {
 protected:
  explicit WindowPoolKernel(const Node& node) : attrs_(parse_window_attributes(node)) {
    require_node(!attrs_.kernel_shape.empty(), node, ErrorCode::kInvalidArgument,
                 "kernel_shape is required");
  }

  WindowGeometry geometry(const Node& node, const Shape& x) const {
    return forward_window(node, attrs_, x, attrs_.kernel_shape);
  }

  // Declares output 0 and the scratch of window_plane for `dtype`; returns the output shape.
  Shape infer_pooled(InferContext& ctx, DType dtype) const {
    const Shape& x = ctx.input(0).shape;
    const WindowGeometry g = geometry(ctx.node(), x);
    const Shape y = pooled_shape(x, g);
    ctx.set_output(0, dtype, y);
    request_thread_scratch(ctx, plane_layout(g, dtype_size(dtype)).scratch_bytes());
    return y;
  }

  // Runs plane_task(plane index, geometry, layout, scratch) for every (image, channel) plane,
  // with window_plane scratch whose padding reads `pad`.
  template <typename T, typename PlaneTask>
  void run_planes(RunContext& ctx, T pad, PlaneTask&& plane_task) const {
    const Tensor& x = ctx.input(0);
    const WindowGeometry g = geometry(ctx.node(), x.shape());
    const PlaneLayout layout = plane_layout(g, sizeof(T));
    run_tasks(
        ctx, x.dim(0) * x.dim(1), plane_task_ops(g, layout), layout.scratch_bytes(),
        [&](std::byte* scratch) { prepare_plane_scratch(g, layout, pad, scratch); },
        [&](int64_t plane, std::byte* scratch) { plane_task(plane, g, layout, scratch); });
  }

  WindowAttributes attrs_;
};

// Copies the output positions of a window_plane grid row to the output.
template <typename T>
auto copy_row_to(T* out, int64_t width) {
  return [out, width](int64_t row, const T* grid_row) {
    copy_strided(out + row * width, grid_row, width, 1);
  };
}

// ----- MaxPool -----

// For scalars and Simd vectors alike. NaN inputs are skipped, as in ONNX Runtime.
constexpr auto larger = [](auto& acc, const auto& x) { acc = x > acc ? x : acc; };

// 2x2 windows at stride 2 that all lie inside the input (ResNet's stem pool): each row of
// outputs from two input rows, deinterleaved into the windows' even and odd columns in
// registers, with no transposes. On the avx512 and avx2 paths; the general kernels do the
// same elsewhere.
#if defined(__AVX512F__) || defined(__AVX2__)
bool fits_2x2(const WindowGeometry& g) {
  return g.kernel[0] == 1 && g.stride[0] == 1 && g.pad_begin[0] == 0 && g.out[0] == g.in[0] &&
         g.kernel[1] == 2 && g.kernel[2] == 2 && g.stride[1] == 2 && g.stride[2] == 2 &&
         g.dilation[1] == 1 && g.dilation[2] == 1 && g.pad_begin[1] == 0 && g.pad_begin[2] == 0 &&
         2 * g.out[1] <= g.in[1] && 2 * g.out[2] <= g.in[2];
}
#else
bool fits_2x2(const WindowGeometry&) {
  return false;
}
#endif

#if defined(__AVX512F__)
// Taps in the general kernel's order, (0,0) (0,1) (1,0) (1,1), each kept only when larger, so
// NaNs and ties give the same bits.
void max_pool_2x2_plane(const WindowGeometry& g, const float* in, float* out) {
  for (int64_t d = 0; d < g.out[0]; ++d)
    for (int64_t h = 0; h < g.out[1]; ++h) {
      const float* top = in + (d * g.in[1] + 2 * h) * g.in[2];
      float* y = out + (d * g.out[1] + h) * g.out[2];
      for (int64_t w = 0; w < g.out[2]; w += 16) {
        const int64_t outputs = std::min<int64_t>(16, g.out[2] - w);
        const __mmask16 low = first_lanes(2 * outputs), high = first_lanes(2 * outputs - 16);
        __m512 best = _mm512_set1_ps(std::numeric_limits<float>::lowest());
        for (const float* row : {top + 2 * w, top + g.in[2] + 2 * w}) {
          const __m512 a = _mm512_maskz_loadu_ps(low, row);
          const __m512 b = _mm512_maskz_loadu_ps(high, row + 16);
          for (const __m512 x : {every_other(a, b, 0), every_other(a, b, 1)})
            best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(x, best, _CMP_GT_OQ), x);
        }
        _mm512_mask_storeu_ps(y + w, first_lanes(outputs), best);
      }
    }
}
#elif defined(__AVX2__)
// The first `count` of 8 lanes (none for count <= 0), as a maskload/maskstore mask.
__m256i first_lanes8(int64_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n = static_cast<int>(std::clamp<int64_t>(count, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

// The avx512 kernel's taps and comparisons on 8 lanes: the same bits.
void max_pool_2x2_plane(const WindowGeometry& g, const float* in, float* out) {
  for (int64_t d = 0; d < g.out[0]; ++d)
    for (int64_t h = 0; h < g.out[1]; ++h) {
      const float* top = in + (d * g.in[1] + 2 * h) * g.in[2];
      float* y = out + (d * g.out[1] + h) * g.out[2];
      for (int64_t w = 0; w < g.out[2]; w += 8) {
        const int64_t outputs = std::min<int64_t>(8, g.out[2] - w);
        const __m256i low = first_lanes8(2 * outputs), high = first_lanes8(2 * outputs - 8);
        __m256 best = _mm256_set1_ps(std::numeric_limits<float>::lowest());
        for (const float* row : {top + 2 * w, top + g.in[2] + 2 * w}) {
          const __m256 a = _mm256_maskload_ps(row, low);
          const __m256 b = _mm256_maskload_ps(row + 8, high);
          // shuffle_ps picks within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit
          // permute puts them in column order.
          const __m256 even = _mm256_castpd_ps(_mm256_permute4x64_pd(
              _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
          const __m256 odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
              _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
          for (const __m256 x : {even, odd})
            best = _mm256_blendv_ps(best, x, _mm256_cmp_ps(x, best, _CMP_GT_OQ));
        }
        _mm256_maskstore_ps(y + w, first_lanes8(outputs), best);
      }
    }
}
#else
void max_pool_2x2_plane(const WindowGeometry&, const float*, float*) {}
#endif

// Index of input element (d, h, w) of a plane in the Indices output's storage order:
// row-major, or column-major over the spatial dimensions when storage_order is 1.
int64_t storage_index(const WindowGeometry& g, int64_t input_row, int64_t w, bool column_major) {
  if (!column_major) return input_row * g.in[2] + w;
  const int64_t d = input_row / g.in[1];
  const int64_t h = input_row % g.in[1];
  return d + g.in[0] * (h + g.in[1] * w);
}

// Max pooling that also writes where each maximum came from (the first one on ties), tap by
// tap over the input rows; `base` is the plane's first index in the whole input.
template <typename T>
void max_pool_plane_with_indices(const WindowGeometry& g, const T* in, T* out, int64_t* indices,
                                 int64_t base, bool column_major) {
  std::fill(out, out + g.out_size(), std::numeric_limits<T>::lowest());
  std::fill(indices, indices + g.out_size(), -1);
  for_each_tap_row(
      g, [&](int64_t out_row, int64_t input_row, int64_t, IndexRange inside, int64_t offset) {
        T* out_row_values = out + out_row * g.out[2];
        int64_t* out_row_indices = indices + out_row * g.out[2];
        for (int64_t o = inside.begin; o < inside.end; ++o) {
          const int64_t w = o * g.stride[2] + offset;
          const T v = in[input_row * g.in[2] + w];
          if (out_row_indices[o] < 0 || v > out_row_values[o]) {
            out_row_values[o] = v;
            out_row_indices[o] = base + storage_index(g, input_row, w, column_major);
          }
        }
      });
}

class MaxPoolKernel : public WindowPoolKernel {
 public:
  explicit MaxPoolKernel(const Node& node)
      : WindowPoolKernel(node), column_major_(read_flag(node, "storage_order")) {}

  void infer(InferContext& ctx) override {
    const DType dtype = ctx.input(0).dtype;
    if (dtype != DType::kFloat32 && dtype != DType::kUInt8 && dtype != DType::kInt8)
      fail_node(ctx.node(), ErrorCode::kUnsupported,
                std::string("input type ") + dtype_name(dtype) + " is not supported");
    ctx.set_output(1, DType::kInt64, infer_pooled(ctx, dtype));
    const WindowGeometry g = geometry(ctx.node(), ctx.input(0).shape);
    const bool with_indices = ctx.node().outputs.size() > 1 && !ctx.node().outputs[1].empty();
    if (dtype == DType::kFloat32 && !with_indices && fits_2x2(g)) return;
    if (blocked(dtype, with_indices, g))
      request_thread_scratch(ctx, BlockedWindow(g).scratch_bytes());
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const WindowGeometry g = geometry(ctx.node(), x.shape());
    if (x.dtype() == DType::kFloat32 && !ctx.has_output(1) && fits_2x2(g)) return run_2x2(ctx, g);
    if (blocked(x.dtype(), ctx.has_output(1), g)) return run_blocked(ctx, g);
    switch (x.dtype()) {
      case DType::kUInt8:
        return run_typed<uint8_t>(ctx);
      case DType::kInt8:
        return run_typed<int8_t>(ctx);
      default:
        return run_typed<float>(ctx);
    }
  }

 private:
  static bool blocked(DType dtype, bool with_indices, const WindowGeometry& g) {
    return dtype == DType::kFloat32 && !with_indices && BlockedWindow::fits(g);
  }

  // One task per plane.
  static void run_2x2(RunContext& ctx, const WindowGeometry& g) {
    const float* in = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    run_tasks(ctx, ctx.input(0).dim(0) * ctx.input(0).dim(1), 4 * g.out_size(), 0,
              [&](int64_t p, std::byte*) {
                max_pool_2x2_plane(g, in + p * g.in_size(), out + p * g.out_size());
              });
  }

  // One task per block of 16 channels of an image.
  static void run_blocked(RunContext& ctx, const WindowGeometry& g) {
    const Tensor& x = ctx.input(0);
    const BlockedWindow pool(g);
    constexpr int64_t kBlock = BlockedWindow::kBlock;
    const int64_t channels = x.dim(1);
    const int64_t blocks = ceil_div(channels, kBlock);
    const float* in = x.data<float>();
    float* out = ctx.output(0).data<float>();
    run_tasks(
        ctx, x.dim(0) * blocks, kBlock * g.kernel_size() * g.out_size(), pool.scratch_bytes(),
        [&](std::byte* scratch) {
          pool.prepare_scratch(std::numeric_limits<float>::lowest(), scratch);
        },
        [&](int64_t t, std::byte* scratch) {
          const int64_t n = t / blocks;
          const int64_t first = t % blocks * kBlock;
          pool.run_max(in + (n * channels + first) * g.in_size(),
                       std::min(kBlock, channels - first), scratch,
                       out + (n * channels + first) * g.out_size());
        });
  }

  template <typename T>
  void run_typed(RunContext& ctx) const {
    const T* in = ctx.input(0).data<T>();
    T* out = ctx.output(0).data<T>();
    int64_t* indices = ctx.has_output(1) ? ctx.output(1).data<int64_t>() : nullptr;
    const T lowest = std::numeric_limits<T>::lowest();
    run_planes(
        ctx, lowest,
        [&](int64_t p, const WindowGeometry& g, const PlaneLayout& layout, std::byte* scratch) {
          const T* plane = in + p * g.in_size();
          T* out_plane = out + p * g.out_size();
          if (indices != nullptr) {
            max_pool_plane_with_indices(g, plane, out_plane, indices + p * g.out_size(),
                                        p * g.in_size(), column_major_);
            return;
          }
          window_plane(
              g, layout, plane, lowest, [](int64_t) { return larger; },
              copy_row_to(out_plane, g.out[2]), scratch);
        });
  }

  bool column_major_;
};

// ----- AveragePool -----

// Number of taps of output position o along dimension d that are counted: those inside the
// input, or inside the explicitly padded input with count_include_pad. AveragePool has no
// dilations up to opset 18, so this is a clipped interval length.
int64_t counted_taps(const WindowGeometry& g, int d, int64_t o, bool include_pad) {
  const int64_t start = g.input_index(d, o, 0);
  const int64_t low = include_pad ? -g.pad_begin[d] : 0;
  const int64_t high = include_pad ? g.in[d] + g.pad_end[d] : g.in[d];
  return std::min(start + g.kernel[d], high) - std::max(start, low);
}

class AveragePoolKernel : public WindowPoolKernel {
 public:
  explicit AveragePoolKernel(const Node& node)
      : WindowPoolKernel(node), include_pad_(read_flag(node, "count_include_pad")) {}

  void infer(InferContext& ctx) override {
    ctx.expect_dtype(0, DType::kFloat32);
    infer_pooled(ctx, DType::kFloat32);
  }

  void run(RunContext& ctx) override {
    const float* in = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    run_planes(
        ctx, 0.0f,
        [&](int64_t p, const WindowGeometry& g, const PlaneLayout& layout, std::byte* scratch) {
          float* out_plane = out + p * g.out_size();
          auto divide = [&](int64_t row, const float* grid_row) {
            const int64_t row_count = counted_taps(g, 0, row / g.out[1], include_pad_) *
                                      counted_taps(g, 1, row % g.out[1], include_pad_);
            float* out_row = out_plane + row * g.out[2];
            for (int64_t o = 0; o < g.out[2]; ++o)
              out_row[o] =
                  grid_row[o] / static_cast<float>(row_count * counted_taps(g, 2, o, include_pad_));
          };
          window_plane(
              g, layout, in + p * g.in_size(), 0.0f,
              [](int64_t) { return [](auto& acc, const auto& x) { acc += x; }; }, divide, scratch);
        });
  }

 private:
  bool include_pad_;
};

// ----- GlobalAveragePool -----

// Sums in independent float lanes (vectorizable), folded pairwise at the end: a fixed order,
// so results are reproducible.
float plane_mean(const float* x, int64_t n) {
  constexpr int64_t kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += x[i + l];
  for (int64_t l = 0; i < n; ++i, ++l) lanes[l] += x[i];
  for (int64_t half = kLanes / 2; half > 0; half /= 2)
    for (int64_t l = 0; l < half; ++l) lanes[l] += lanes[l + half];
  return lanes[0] / static_cast<float>(n);
}

class GlobalAveragePoolKernel : public Kernel {
 public:
  void infer(InferContext& ctx) override {
    ctx.expect_dtype(0, DType::kFloat32);
    const Shape& x = ctx.input(0).shape;
    if (x.size() < 3)
      fail_node(ctx.node(), ErrorCode::kShape,
                "input " + shape_to_string(x) + " needs a batch, a channel and a spatial axis");
    Shape y(x.size(), 1);
    y[0] = x[0];
    y[1] = x[1];
    ctx.set_output(0, DType::kFloat32, y);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t plane = planes == 0 ? 0 : x.size() / planes;
    const float* in = x.data<float>();
    float* out = ctx.output(0).data<float>();
    run_tasks(ctx, planes, plane, 0,
              [&](int64_t p, std::byte*) { out[p] = plane_mean(in + p * plane, plane); });
  }
};

}  // namespace

void register_pool_ops(KernelRegistry& registry) {
  registry.add("MaxPool", [](const Node& node, int64_t opset) -> std::unique_ptr<Kernel> {
    if (opset < 10)
      check_known_attributes(node,
                             {"auto_pad", "kernel_shape", "pads", "storage_order", "strides"});
    else
      check_known_attributes(node, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                    "storage_order", "strides"});
    return std::make_unique<MaxPoolKernel>(node);
  });
  registry.add("AveragePool", [](const Node& node, int64_t opset) -> std::unique_ptr<Kernel> {
    if (opset < 10)
      check_known_attributes(node,
                             {"auto_pad", "count_include_pad", "kernel_shape", "pads", "strides"});
    else
      check_known_attributes(
          node, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
    return std::make_unique<AveragePoolKernel>(node);
  });
  registry.add("GlobalAveragePool", [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {});
    return std::make_unique<GlobalAveragePoolKernel>();
  });
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
