#include "runtime/ops/conv_params.h"

#include <string>

#include "runtime/kernel.h"

namespace qsim {
namespace {

AutoPad parse_auto_pad(const Node& node) {
  const std::string value = node.get_string("auto_pad", "NOTSET");
  if (value == "NOTSET") return AutoPad::kNotSet;
  if (value == "SAME_UPPER") return AutoPad::kSameUpper;
  if (value == "SAME_LOWER") return AutoPad::kSameLower;
  if (value == "VALID") return AutoPad::kValid;
  fail_node(node, ErrorCode::kUnsupported, "auto_pad '" + value + "' is not supported");
}

void require_at_least(const Node& node, const char* attr, const std::vector<int64_t>& values,
                      int64_t minimum) {
  for (int64_t v : values)
    if (v < minimum || v > kMaxWindowValue)
      fail_node(node, ErrorCode::kInvalidArgument,
                std::string("attribute '") + attr + "' holds " + std::to_string(v) +
                    ", values must be from " + std::to_string(minimum) + " to 2^30");
}

// An attribute list is either absent or sized for the spatial rank.
void require_length(const Node& node, const char* attr, std::span<const int64_t> values,
                    size_t expected) {
  if (values.empty() || values.size() == expected) return;
  fail_node(node, ErrorCode::kInvalidArgument,
            std::string("attribute '") + attr + "' has " + std::to_string(values.size()) +
                " values, expected " + std::to_string(expected));
}

// values[first, first + rank) in the trailing slots; `fallback` (the attribute's default,
// which is also the neutral value of a padding dimension) everywhere else.
SpatialDims spread(std::span<const int64_t> values, size_t first, size_t rank, int64_t fallback) {
  SpatialDims dims;
  dims.fill(fallback);
  if (values.empty()) return dims;
  for (size_t i = 0; i < rank; ++i) dims[kMaxSpatialRank - rank + i] = values[first + i];
  return dims;
}

std::span<const int64_t> spatial_dims(const Shape& x_shape) {
  return std::span<const int64_t>(x_shape).subspan(2);
}

std::string span_to_string(std::span<const int64_t> values) {
  return shape_to_string(Shape(values.begin(), values.end()));
}

// Geometry with the attribute values filled in; sizes and automatic pads come later.
WindowGeometry base_geometry(const Node& node, const WindowAttributes& attrs, const Shape& x_shape,
                             std::span<const int64_t> kernel) {
  check_spatial_rank(node, x_shape);
  const size_t rank = kernel.size();
  if (x_shape.size() != rank + 2)
    fail_node(node, ErrorCode::kShape,
              "input " + shape_to_string(x_shape) + " does not fit a " + std::to_string(rank) +
                  "-D window");
  if (!attrs.kernel_shape.empty() &&
      !std::equal(kernel.begin(), kernel.end(), attrs.kernel_shape.begin(),
                  attrs.kernel_shape.end()))
    fail_node(node, ErrorCode::kShape,
              "kernel_shape " + shape_to_string(attrs.kernel_shape) +
                  " differs from the weights' spatial shape " + span_to_string(kernel));
  require_length(node, "strides", attrs.strides, rank);
  require_length(node, "dilations", attrs.dilations, rank);
  require_length(node, "pads", attrs.pads, 2 * rank);
  // Bounded sizes keep every product of the geometry (spans, strides times positions) within
  // int64; a zero-sized window has no taps to compute.
  for (int64_t k : kernel)
    if (k < 1 || k > kMaxWindowValue)
      fail_node(node, ErrorCode::kShape,
                "the window " + span_to_string(kernel) + " must hold sizes from 1 to 2^30");
  for (int64_t d : spatial_dims(x_shape))
    if (d < 1 || d > kMaxWindowValue)
      fail_node(node, ErrorCode::kShape,
                "input " + shape_to_string(x_shape) + " must have spatial sizes from 1 to 2^30");
  WindowGeometry g;
  g.rank = static_cast<int>(rank);
  g.kernel = spread(kernel, 0, rank, 1);
  g.stride = spread(attrs.strides, 0, rank, 1);
  g.dilation = spread(attrs.dilations, 0, rank, 1);
  if (attrs.auto_pad == AutoPad::kNotSet) {
    g.pad_begin = spread(attrs.pads, 0, rank, 0);
    g.pad_end = spread(attrs.pads, rank, rank, 0);
  }
  return g;
}

// The padded grid and the output positions must have a countable number of cells.
void check_sizes(const Node& node, const WindowGeometry& g) {
  int64_t in_cells = 1, out_cells = 1;
  for (int d = 0; d < kMaxSpatialRank; ++d)
    if (g.out[d] < 1 || __builtin_mul_overflow(in_cells, g.in[d], &in_cells) ||
        __builtin_mul_overflow(out_cells, g.out[d], &out_cells) || in_cells > kMaxTensorBytes ||
        out_cells > kMaxTensorBytes)
      fail_node(node, ErrorCode::kShape,
                "the window gives output positions " + shape_to_string(g.out_shape()) +
                    " over input " + shape_to_string(g.in_shape()) +
                    " (padding included), more than 2^40 positions or none");
}

int64_t window_span(const WindowGeometry& g, int d) {
  return (g.kernel[d] - 1) * g.dilation[d] + 1;
}

bool is_same(AutoPad pad) {
  return pad == AutoPad::kSameUpper || pad == AutoPad::kSameLower;
}

int64_t floor_half(int64_t v) {
  return v >= 0 ? v / 2 : -((1 - v) / 2);
}

// Splits `total` padding cells of dimension d; SAME_UPPER puts the odd one at the end. The
// total is negative when ConvTranspose's output_shape asks for more than the full output; the
// halving floors as in the ONNX reference, so an odd cell still goes to the end.
void split_padding(WindowGeometry& g, int d, int64_t total, bool extra_at_end) {
  g.pad_begin[d] = extra_at_end ? floor_half(total) : total - floor_half(total);
  g.pad_end[d] = total - g.pad_begin[d];
}

}  // namespace

WindowAttributes parse_window_attributes(const Node& node) {
  WindowAttributes attrs;
  attrs.kernel_shape = node.get_ints("kernel_shape");
  attrs.strides = node.get_ints("strides");
  attrs.dilations = node.get_ints("dilations");
  attrs.pads = node.get_ints("pads");
  attrs.auto_pad = parse_auto_pad(node);
  attrs.ceil_mode = read_flag(node, "ceil_mode");
  require_at_least(node, "kernel_shape", attrs.kernel_shape, 1);
  require_at_least(node, "strides", attrs.strides, 1);
  require_at_least(node, "dilations", attrs.dilations, 1);
  require_at_least(node, "pads", attrs.pads, 0);
  require_node(attrs.pads.size() % 2 == 0, node, ErrorCode::kInvalidArgument,
               "attribute 'pads' must hold a begin and an end per spatial dimension");
  return attrs;
}

void check_spatial_rank(const Node& node, const Shape& x_shape) {
  if (x_shape.size() < 3)
    fail_node(
        node, ErrorCode::kShape,
        "input " + shape_to_string(x_shape) + " needs a batch, a channel and a spatial dimension");
  if (x_shape.size() > 2 + kMaxSpatialRank)
    fail_node(node, ErrorCode::kUnsupported,
              "input " + shape_to_string(x_shape) + ": at most " + std::to_string(kMaxSpatialRank) +
                  " spatial dimensions are supported");
}

Shape WindowGeometry::out_shape() const {
  return Shape(out.end() - rank, out.end());
}

Shape WindowGeometry::in_shape() const {
  return Shape(in.end() - rank, in.end());
}

WindowGeometry forward_window(const Node& node, const WindowAttributes& attrs, const Shape& x_shape,
                              std::span<const int64_t> kernel) {
  WindowGeometry g = base_geometry(node, attrs, x_shape, kernel);
  g.in = spread(spatial_dims(x_shape), 0, kernel.size(), 1);
  for (int d = kMaxSpatialRank - g.rank; d < kMaxSpatialRank; ++d) {
    const int64_t span = window_span(g, d);
    if (is_same(attrs.auto_pad)) {
      g.out[d] = ceil_div(g.in[d], g.stride[d]);
      split_padding(g, d, std::max<int64_t>(0, (g.out[d] - 1) * g.stride[d] + span - g.in[d]),
                    attrs.auto_pad == AutoPad::kSameUpper);
      continue;
    }
    const int64_t room = g.in[d] + g.pad_begin[d] + g.pad_end[d] - span;
    if (room < 0)
      fail_node(node, ErrorCode::kShape,
                "the window does not fit in the padded input " + shape_to_string(x_shape));
    g.out[d] = (attrs.ceil_mode ? ceil_div(room, g.stride[d]) : room / g.stride[d]) + 1;
    // A last window starting in the end padding is dropped (as PyTorch and ONNX Runtime do).
    if (attrs.ceil_mode && (g.out[d] - 1) * g.stride[d] >= g.in[d] + g.pad_begin[d]) --g.out[d];
  }
  check_sizes(node, g);
  return g;
}

WindowGeometry transpose_window(const Node& node, const WindowAttributes& attrs,
                                const Shape& x_shape, std::span<const int64_t> kernel,
                                std::span<const int64_t> output_padding,
                                std::span<const int64_t> output_shape) {
  WindowGeometry g = base_geometry(node, attrs, x_shape, kernel);
  const size_t rank = kernel.size();
  require_length(node, "output_padding", output_padding, rank);
  require_length(node, "output_shape", output_shape, rank);
  for (const auto& [attr, values] :
       {std::pair{"output_padding", output_padding}, std::pair{"output_shape", output_shape}})
    for (int64_t v : values)
      if (v < 0 || v > kMaxWindowValue)
        fail_node(node, ErrorCode::kInvalidArgument,
                  std::string("attribute '") + attr + "' holds " + std::to_string(v) +
                      ", values must be from 0 to 2^30");
  const SpatialDims extra = spread(output_padding, 0, rank, 0);
  const SpatialDims target = spread(output_shape, 0, rank, 1);
  g.out = spread(spatial_dims(x_shape), 0, rank, 1);
  for (int d = kMaxSpatialRank - g.rank; d < kMaxSpatialRank; ++d) {
    const int64_t full = g.stride[d] * (g.out[d] - 1) + extra[d] + window_span(g, d);
    if (!output_shape.empty() || is_same(attrs.auto_pad)) {
      g.in[d] = output_shape.empty() ? g.out[d] * g.stride[d] : target[d];
      split_padding(g, d, full - g.in[d], attrs.auto_pad == AutoPad::kSameUpper);
    } else {
      g.in[d] = full - g.pad_begin[d] - g.pad_end[d];
    }
    if (g.in[d] < 1)
      fail_node(node, ErrorCode::kShape,
                "the padding leaves no output for input " + shape_to_string(x_shape));
  }
  check_sizes(node, g);
  return g;
}

void request_thread_scratch(InferContext& ctx, size_t bytes_per_thread) {
  ctx.request_workspace(round_to_line(bytes_per_thread) * ctx.num_threads());
}

int64_t threads_for(const RunContext& ctx, int64_t count, int64_t ops_per_task) {
  const int64_t worth = count * ops_per_task / kMinOpsPerThread;
  return std::clamp<int64_t>(worth, 1,
                             std::max<int64_t>(1, std::min<int64_t>(ctx.pool().size(), count)));
}

std::byte* thread_scratch(const RunContext& ctx, int64_t threads, size_t bytes_per_thread,
                          size_t* slice_bytes) {
  *slice_bytes = round_to_line(bytes_per_thread);
  if (*slice_bytes * static_cast<size_t>(threads) > ctx.workspace_bytes())
    fail_node(ctx.node(), ErrorCode::kInternal, "workspace smaller than planned");
  return static_cast<std::byte*>(ctx.workspace());
}

}  // namespace qsim
