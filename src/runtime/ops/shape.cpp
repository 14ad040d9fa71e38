// Shape and data-movement ops: Shape, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
// Split, Slice, Gather, ConstantOfShape, Constant. They move bytes, so every dtype is handled
// by element size; shape-like inputs must be known at plan time.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>

#include "runtime/ops/copy_util.h"
#include "runtime/registry.h"
#include "util/integer_math.h"

namespace qsim {
namespace {

using copy_util::AxisOffsets;
using copy_util::factory;
using copy_util::kMinParallelElements;
using copy_util::normalize_unique_axes;

int64_t product(Shape::const_iterator begin, Shape::const_iterator end) {
  return std::accumulate(begin, end, int64_t{1}, std::multiplies<int64_t>());
}

// The contents of optional input i as int64 values; nullopt when the node omits it. Shape-like
// inputs must be plan-time constants.
std::optional<std::vector<int64_t>> optional_constant_ints(const InferContext& ctx, size_t i,
                                                           const char* what) {
  if (!ctx.has_input(i)) return std::nullopt;
  return ctx.constant_input(i, what).to_int64_vector();
}

std::optional<std::vector<int64_t>> optional_ints(const RunContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return std::nullopt;
  return ctx.input(i).to_int64_vector();
}

// An int list that is an attribute before `input_since` and an optional input from that opset.
class IntsOperand {
 public:
  IntsOperand(const Node& node, int64_t opset, const char* name, int64_t input_since,
              size_t input_index)
      : description_(node.op_type + "'s " + name),
        from_input_(opset >= input_since),
        input_index_(input_index) {
    if (!from_input_ && node.has(name)) attribute_ = node.get_ints(name);
  }
  std::optional<std::vector<int64_t>> get(const InferContext& ctx) const {
    return from_input_ ? optional_constant_ints(ctx, input_index_, description_.c_str())
                       : attribute_;
  }
  std::optional<std::vector<int64_t>> get(const RunContext& ctx) const {
    return from_input_ ? optional_ints(ctx, input_index_) : attribute_;
  }

 private:
  std::string description_;  // "Slice's starts"
  bool from_input_;
  size_t input_index_;
  std::optional<std::vector<int64_t>> attribute_;
};

// ---------------------------------------------------------------------------------------------
// Shape

class ShapeKernel : public Kernel {
 public:
  ShapeKernel(const Node& node, int64_t opset)
      : start_(node.get_int("start", 0)), end_(node.get_int("end", INT64_MAX)) {
    if (opset >= 15)
      check_known_attributes(node, {"start", "end"});
    else
      check_known_attributes(node, {});
  }
  void infer(InferContext& ctx) override {
    ctx.set_constant_output(0, make_int64_tensor(selected_dims(ctx.input(0).shape)));
  }
  void run(RunContext& ctx) override {
    Shape dims = selected_dims(ctx.input(0).shape());
    std::copy(dims.begin(), dims.end(), ctx.output(0).data<int64_t>());
  }

 private:
  // dims[start:end], with negative bounds counted from the end and both clamped to [0, rank].
  Shape selected_dims(const Shape& dims) const {
    const int64_t rank = static_cast<int64_t>(dims.size());
    auto clamp = [rank](int64_t i) { return std::clamp(i < 0 ? i + rank : i, int64_t{0}, rank); };
    const int64_t start = clamp(start_), end = std::max(start, clamp(end_));
    return Shape(dims.begin() + start, dims.begin() + end);
  }

  int64_t start_, end_;
};

// ---------------------------------------------------------------------------------------------
// Ops that only change the shape: run() copies the bytes.

class ShapeOnlyKernel : public Kernel {
 public:
  void run(RunContext& ctx) override { copy_util::copy_bytes(ctx.input(0), ctx.output(0)); }
};

class ReshapeKernel : public ShapeOnlyKernel {
 public:
  ReshapeKernel(const Node& node, int64_t opset) : allow_zero_(node.get_int("allowzero", 0) != 0) {
    if (opset >= 14)
      check_known_attributes(node, {"allowzero"});
    else
      check_known_attributes(node, {});
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    ctx.expect_dtype(1, DType::kInt64);
    const Tensor& shape = ctx.constant_input(1, "Reshape's shape");
    require_node(shape.rank() == 1, ctx.node(), ErrorCode::kInvalidArgument, "shape must be 1-D");
    ctx.set_output(0, data.dtype, output_shape(ctx.node(), data.shape, shape.to_int64_vector()));
  }

 private:
  Shape output_shape(const Node& node, const Shape& in,
                     const std::vector<int64_t>& requested) const {
    Shape out(requested.size());
    int64_t inferred_axis = -1, known = 1;
    for (size_t i = 0; i < requested.size(); ++i) {
      int64_t dim = requested[i];
      if (dim == -1) {
        require_node(inferred_axis < 0, node, ErrorCode::kShape, "shape has more than one -1");
        inferred_axis = static_cast<int64_t>(i);
        continue;
      }
      if (dim == 0 && !allow_zero_) {
        require_node(i < in.size(), node, ErrorCode::kShape,
                     "shape copies dimension " + std::to_string(i) + " of a rank-" +
                         std::to_string(in.size()) + " input");
        dim = in[i];
      }
      require_node(dim >= 0, node, ErrorCode::kShape,
                   "invalid shape " + shape_to_string(requested));
      out[i] = dim;
      require_node(!__builtin_mul_overflow(known, dim, &known), node, ErrorCode::kShape,
                   "shape " + shape_to_string(requested) + " has more than 2^63 elements");
    }
    const int64_t total = element_count(in);
    if (inferred_axis >= 0) {
      require_node(known != 0 && total % known == 0, node, ErrorCode::kShape,
                   "cannot infer the -1 of " + shape_to_string(requested) + " for input " +
                       shape_to_string(in));
      out[inferred_axis] = total / known;
    }
    require_node(element_count(out) == total, node, ErrorCode::kShape,
                 "cannot reshape " + shape_to_string(in) + " to " + shape_to_string(requested));
    return out;
  }

  bool allow_zero_;
};

class FlattenKernel : public ShapeOnlyKernel {
 public:
  FlattenKernel(const Node& node, int64_t) : axis_(node.get_int("axis", 1)) {
    check_known_attributes(node, {"axis"});
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    const int64_t rank = static_cast<int64_t>(data.shape.size());
    require_node(
        axis_ >= -rank && axis_ <= rank, ctx.node(), ErrorCode::kInvalidArgument,
        "axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(rank));
    const auto split = data.shape.begin() + (axis_ < 0 ? axis_ + rank : axis_);
    ctx.set_output(0, data.dtype,
                   {product(data.shape.begin(), split), product(split, data.shape.end())});
  }

 private:
  int64_t axis_;
};

class SqueezeKernel : public ShapeOnlyKernel {
 public:
  SqueezeKernel(const Node& node, int64_t opset) : axes_(node, opset, "axes", 13, 1) {
    if (opset >= 13)
      check_known_attributes(node, {});
    else
      check_known_attributes(node, {"axes"});
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    const int64_t rank = static_cast<int64_t>(data.shape.size());
    std::vector<bool> drop(rank, false);
    if (auto axes = axes_.get(ctx)) {
      for (int64_t a : normalize_unique_axes(ctx.node(), *axes, rank)) {
        require_node(data.shape[a] == 1, ctx.node(), ErrorCode::kShape,
                     "cannot squeeze axis " + std::to_string(a) + " of shape " +
                         shape_to_string(data.shape));
        drop[a] = true;
      }
    } else {
      for (int64_t a = 0; a < rank; ++a) drop[a] = data.shape[a] == 1;
    }
    Shape out;
    for (int64_t a = 0; a < rank; ++a)
      if (!drop[a]) out.push_back(data.shape[a]);
    ctx.set_output(0, data.dtype, out);
  }

 private:
  IntsOperand axes_;
};

class UnsqueezeKernel : public ShapeOnlyKernel {
 public:
  UnsqueezeKernel(const Node& node, int64_t opset) : axes_(node, opset, "axes", 13, 1) {
    if (opset >= 13) {
      check_known_attributes(node, {});
    } else {
      check_known_attributes(node, {"axes"});
      require_node(node.has("axes"), node, ErrorCode::kInvalidArgument,
                   "attribute 'axes' is missing");
    }
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    auto axes = axes_.get(ctx);
    require_node(axes.has_value(), ctx.node(), ErrorCode::kInvalidArgument,
                 "input 'axes' is missing");
    const int64_t out_rank = static_cast<int64_t>(data.shape.size() + axes->size());
    std::vector<bool> inserted(out_rank, false);
    for (int64_t a : normalize_unique_axes(ctx.node(), *axes, out_rank)) inserted[a] = true;
    Shape out(out_rank);
    for (int64_t a = 0, next_in = 0; a < out_rank; ++a)
      out[a] = inserted[a] ? 1 : data.shape[next_in++];
    ctx.set_output(0, data.dtype, out);
  }

 private:
  IntsOperand axes_;
};

// ---------------------------------------------------------------------------------------------
// Transpose

// Copies src [batch, rows, cols] to dst [batch, cols, rows] in small tiles, writing along
// output rows: strided writes with power-of-two strides thrash the cache far more than reads.
void transpose_batched_2d(const void* src, void* dst, int64_t batch, int64_t rows, int64_t cols,
                          size_t element_size, ThreadPool& pool) {
  constexpr int64_t kTile = 16;
  const int64_t row_tiles = ceil_div(rows, kTile);
  copy_util::with_element_type(element_size, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(src);
    T* out = static_cast<T*>(dst);
    pool.parallel_for(
        batch * row_tiles,
        [&](int64_t begin, int64_t end) {
          for (int64_t tile = begin; tile < end; ++tile) {
            const int64_t b = tile / row_tiles, r0 = tile % row_tiles * kTile;
            const int64_t r1 = std::min(rows, r0 + kTile);
            const T* in_b = in + b * rows * cols;
            T* out_b = out + b * rows * cols;
            for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
              const int64_t c1 = std::min(cols, c0 + kTile);
              for (int64_t c = c0; c < c1; ++c)
                for (int64_t r = r0; r < r1; ++r) out_b[c * rows + r] = in_b[r * cols + c];
            }
          }
        },
        std::max<int64_t>(1, kMinParallelElements / (kTile * std::max<int64_t>(cols, 1))));
  });
}

// A transpose with size-1 axes dropped and input axes that stay adjacent and in order merged:
// NCHW->NHWC becomes [N, C, HW] with perm (0, 2, 1).
struct CoalescedTranspose {
  Shape in_shape;
  std::vector<int64_t> perm;
};

CoalescedTranspose coalesce(const Shape& in_shape, const std::vector<int64_t>& perm) {
  // Position of each kept (extent > 1) input axis among the kept ones.
  std::vector<int64_t> position(in_shape.size(), -1);
  for (size_t a = 0, next = 0; a < in_shape.size(); ++a)
    if (in_shape[a] != 1) position[a] = static_cast<int64_t>(next++);
  // Groups of kept input axes in output order; a group is a run of consecutive positions.
  std::vector<std::pair<int64_t, int64_t>> groups;  // (first position, extent)
  int64_t last_position = -2;
  for (int64_t a : perm) {
    if (position[a] < 0) continue;
    if (position[a] == last_position + 1)
      groups.back().second *= in_shape[a];
    else
      groups.push_back({position[a], in_shape[a]});
    last_position = position[a];
  }
  std::vector<size_t> input_order(groups.size());
  std::iota(input_order.begin(), input_order.end(), 0);
  std::sort(input_order.begin(), input_order.end(),
            [&](size_t x, size_t y) { return groups[x].first < groups[y].first; });
  CoalescedTranspose result{Shape(groups.size()), std::vector<int64_t>(groups.size())};
  for (size_t i = 0; i < input_order.size(); ++i) {
    result.in_shape[i] = groups[input_order[i]].second;
    result.perm[input_order[i]] = static_cast<int64_t>(i);
  }
  return result;
}

class TransposeKernel : public Kernel {
 public:
  TransposeKernel(const Node& node, int64_t) {
    check_known_attributes(node, {"perm"});
    if (node.has("perm")) perm_ = node.get_ints("perm");
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    std::vector<int64_t> perm = permutation(ctx.node(), data.shape.size());
    Shape out(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) out[i] = data.shape[perm[i]];
    ctx.set_output(0, data.dtype, out);
  }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (in.size() == 0) return;
    const size_t element_size = dtype_size(in.dtype());
    CoalescedTranspose t = coalesce(in.shape(), permutation(ctx.node(), in.shape().size()));
    const std::vector<int64_t>& p = t.perm;
    const Shape& s = t.in_shape;
    if (p.size() <= 1) {
      copy_util::copy_bytes(in, out);
    } else if (p == std::vector<int64_t>{1, 0}) {
      transpose_batched_2d(in.raw(), out.raw(), 1, s[0], s[1], element_size, ctx.pool());
    } else if (p == std::vector<int64_t>{0, 2, 1}) {
      transpose_batched_2d(in.raw(), out.raw(), s[0], s[1], s[2], element_size, ctx.pool());
    } else {
      std::vector<int64_t> strides = contiguous_strides(s);
      AxisOffsets offsets(p.size());
      for (size_t d = 0; d < p.size(); ++d)
        for (int64_t i = 0; i < s[p[d]]; ++i) offsets[d].push_back(i * strides[p[d]]);
      copy_util::gather_by_axis_offsets(in.raw(), out.raw(), offsets, element_size, nullptr,
                                        ctx.pool());
    }
  }

 private:
  std::vector<int64_t> permutation(const Node& node, size_t rank) const {
    std::vector<int64_t> perm(rank);
    if (!perm_) {
      std::iota(perm.rbegin(), perm.rend(), 0);
      return perm;
    }
    perm = *perm_;
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    bool valid = sorted.size() == rank;
    for (size_t i = 0; valid && i < rank; ++i) valid = sorted[i] == static_cast<int64_t>(i);
    require_node(valid, node, ErrorCode::kInvalidArgument,
                 "perm " + shape_to_string(perm) + " is not a permutation of " +
                     std::to_string(rank) + " axes");
    return perm;
  }

  std::optional<std::vector<int64_t>> perm_;
};

// ---------------------------------------------------------------------------------------------
// Concat and Split

// A tensor cut along one axis into parts, viewed as `outer` rows: each row of the whole is one
// block of every part in turn (part p's blocks are block_bytes[p] long). Calls
// copy(part, whole_offset, part_offset, bytes) for every block.
template <typename Copy>
void for_each_block(int64_t outer, const std::vector<size_t>& block_bytes, ThreadPool& pool,
                    const Copy& copy) {
  const size_t row_bytes = std::accumulate(block_bytes.begin(), block_bytes.end(), size_t{0});
  pool.parallel_for(
      outer,
      [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          size_t whole_offset = row * row_bytes;
          for (size_t p = 0; p < block_bytes.size(); ++p) {
            if (block_bytes[p] > 0) copy(p, whole_offset, row * block_bytes[p], block_bytes[p]);
            whole_offset += block_bytes[p];
          }
        }
      },
      std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(1, row_bytes)));
}

// Bytes of one block of a part whose extent along the cut axis is `axis_extent`.
size_t block_bytes_of(const Shape& whole, int64_t axis, int64_t axis_extent, DType dtype) {
  return static_cast<size_t>(axis_extent * product(whole.begin() + axis + 1, whole.end())) *
         dtype_size(dtype);
}

class ConcatKernel : public Kernel {
 public:
  ConcatKernel(const Node& node, int64_t) : axis_(node.get_int("axis", 0)) {
    check_known_attributes(node, {"axis"});
    require_node(node.has("axis"), node, ErrorCode::kInvalidArgument,
                 "attribute 'axis' is missing");
  }
  void infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    require_node(ctx.num_inputs() > 0, node, ErrorCode::kInvalidArgument, "needs inputs");
    const ValueType& first = ctx.input(0);
    const int64_t axis =
        normalize_axis(axis_, static_cast<int64_t>(first.shape.size()), node.label());
    Shape out = first.shape;
    out[axis] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const ValueType& in = ctx.input(i);
      ctx.expect_dtype(i, first.dtype);
      bool fits = in.shape.size() == out.size();
      for (size_t d = 0; fits && d < out.size(); ++d)
        fits = static_cast<int64_t>(d) == axis || in.shape[d] == out[d];
      require_node(fits, node, ErrorCode::kShape,
                   "input shapes " + shape_to_string(first.shape) + " and " +
                       shape_to_string(in.shape) + " differ off axis " + std::to_string(axis));
      out[axis] += in.shape[axis];
    }
    ctx.set_output(0, first.dtype, out);
  }
  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const int64_t axis = normalize_axis(axis_, out.rank(), ctx.node().label());
    std::vector<size_t> block_bytes;
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      block_bytes.push_back(block_bytes_of(out.shape(), axis, ctx.input(i).dim(axis), out.dtype()));
    auto* whole = static_cast<uint8_t*>(out.raw());
    for_each_block(product(out.shape().begin(), out.shape().begin() + axis), block_bytes,
                   ctx.pool(),
                   [&](size_t p, size_t whole_offset, size_t part_offset, size_t bytes) {
                     const auto* part = static_cast<const uint8_t*>(ctx.input(p).raw());
                     std::memcpy(whole + whole_offset, part + part_offset, bytes);
                   });
  }

 private:
  int64_t axis_;
};

class SplitKernel : public Kernel {
 public:
  SplitKernel(const Node& node, int64_t opset)
      : opset_(opset), axis_(node.get_int("axis", 0)), split_(node, opset, "split", 13, 1) {
    if (opset >= 18) {
      check_known_attributes(node, {"axis", "num_outputs"});
      if (node.has("num_outputs")) {
        require_node(!node.has_input(1), node, ErrorCode::kInvalidArgument,
                     "input 'split' and attribute 'num_outputs' are exclusive");
        require_node(node.get_int("num_outputs", 0) == static_cast<int64_t>(node.outputs.size()),
                     node, ErrorCode::kInvalidArgument,
                     "num_outputs differs from the number of outputs");
      }
    } else if (opset >= 13) {
      check_known_attributes(node, {"axis"});
    } else {
      check_known_attributes(node, {"axis", "split"});
    }
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    const int64_t axis =
        normalize_axis(axis_, static_cast<int64_t>(data.shape.size()), ctx.node().label());
    std::vector<int64_t> sizes = part_sizes(ctx.node(), data.shape[axis], split_.get(ctx));
    for (size_t i = 0; i < sizes.size(); ++i) {
      Shape part = data.shape;
      part[axis] = sizes[i];
      ctx.set_output(i, data.dtype, part);
    }
  }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const int64_t axis = normalize_axis(axis_, in.rank(), ctx.node().label());
    std::vector<int64_t> sizes = part_sizes(ctx.node(), in.dim(axis), split_.get(ctx));
    std::vector<size_t> block_bytes;
    for (int64_t size : sizes)
      block_bytes.push_back(block_bytes_of(in.shape(), axis, size, in.dtype()));
    const auto* whole = static_cast<const uint8_t*>(in.raw());
    for_each_block(product(in.shape().begin(), in.shape().begin() + axis), block_bytes, ctx.pool(),
                   [&](size_t p, size_t whole_offset, size_t part_offset, size_t bytes) {
                     if (!ctx.has_output(p)) return;
                     auto* part = static_cast<uint8_t*>(ctx.output(p).raw());
                     std::memcpy(part + part_offset, whole + whole_offset, bytes);
                   });
  }

 private:
  // Extents of the parts along the axis: the split list, or equal parts (from opset 18 the last
  // may be smaller).
  std::vector<int64_t> part_sizes(const Node& node, int64_t extent,
                                  const std::optional<std::vector<int64_t>>& split) const {
    const int64_t parts = static_cast<int64_t>(node.outputs.size());
    std::vector<int64_t> sizes;
    if (split) {
      sizes = *split;
      require_node(static_cast<int64_t>(sizes.size()) == parts, node, ErrorCode::kInvalidArgument,
                   "split " + shape_to_string(sizes) + " does not give one size per output");
    } else {
      const int64_t chunk = opset_ >= 18 ? (extent + parts - 1) / parts : extent / parts;
      require_node(opset_ >= 18 || extent % parts == 0, node, ErrorCode::kShape,
                   "cannot split extent " + std::to_string(extent) + " into " +
                       std::to_string(parts) + " equal parts");
      sizes.assign(parts, chunk);
      sizes.back() = extent - chunk * (parts - 1);
    }
    bool valid = std::all_of(sizes.begin(), sizes.end(), [](int64_t s) { return s >= 0; });
    require_node(
        valid && std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) == extent, node,
        ErrorCode::kShape,
        "parts " + shape_to_string(sizes) + " do not split extent " + std::to_string(extent));
    return sizes;
  }

  int64_t opset_;
  int64_t axis_;
  IntsOperand split_;
};

// ---------------------------------------------------------------------------------------------
// Slice

struct AxisSlice {
  int64_t start = 0, step = 1, length = 0;
};

// Start and length of one sliced axis, clamped as the ONNX spec says.
AxisSlice resolve_axis_slice(int64_t start, int64_t end, int64_t step, int64_t extent) {
  if (start < 0) start += extent;
  if (end < 0) end += extent;
  int64_t length;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, extent);
    end = std::clamp<int64_t>(end, 0, extent);
    length = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, extent - 1);
    end = std::clamp<int64_t>(end, -1, extent - 1);
    length = start > end ? (start - end - step - 1) / -step : 0;
  }
  return {start, step, length};
}

class SliceKernel : public Kernel {
 public:
  SliceKernel(const Node& node, int64_t opset)
      : starts_(node, opset, "starts", 10, 1),
        ends_(node, opset, "ends", 10, 2),
        axes_(node, opset, "axes", 10, 3),
        steps_(node, opset, "steps", 10, 4) {
    if (opset >= 10) {
      check_known_attributes(node, {});
    } else {
      check_known_attributes(node, {"starts", "ends", "axes"});
      require_node(node.has("starts") && node.has("ends"), node, ErrorCode::kInvalidArgument,
                   "attributes 'starts' and 'ends' are required");
    }
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    std::vector<AxisSlice> slices = resolve(ctx.node(), data.shape, starts_.get(ctx),
                                            ends_.get(ctx), axes_.get(ctx), steps_.get(ctx));
    Shape out;
    for (const AxisSlice& s : slices) out.push_back(s.length);
    ctx.set_output(0, data.dtype, out);
  }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (out.size() == 0) return;
    std::vector<AxisSlice> slices = resolve(ctx.node(), in.shape(), starts_.get(ctx),
                                            ends_.get(ctx), axes_.get(ctx), steps_.get(ctx));
    std::vector<int64_t> strides = contiguous_strides(in.shape());
    AxisOffsets offsets(slices.size());
    for (size_t d = 0; d < slices.size(); ++d)
      for (int64_t i = 0; i < slices[d].length; ++i)
        offsets[d].push_back((slices[d].start + i * slices[d].step) * strides[d]);
    copy_util::gather_by_axis_offsets(in.raw(), out.raw(), offsets, dtype_size(in.dtype()), nullptr,
                                      ctx.pool());
  }

 private:
  static std::vector<AxisSlice> resolve(const Node& node, const Shape& shape,
                                        const std::optional<std::vector<int64_t>>& starts,
                                        const std::optional<std::vector<int64_t>>& ends,
                                        std::optional<std::vector<int64_t>> axes,
                                        const std::optional<std::vector<int64_t>>& steps) {
    require_node(starts && ends, node, ErrorCode::kInvalidArgument, "starts and ends are required");
    const size_t n = starts->size();
    const int64_t rank = static_cast<int64_t>(shape.size());
    if (!axes) {
      axes.emplace(n);
      std::iota(axes->begin(), axes->end(), 0);
    }
    require_node(ends->size() == n && axes->size() == n && (!steps || steps->size() == n), node,
                 ErrorCode::kInvalidArgument, "starts, ends, axes and steps differ in length");
    std::vector<AxisSlice> slices(rank);
    for (int64_t d = 0; d < rank; ++d) slices[d] = {0, 1, shape[d]};
    std::vector<int64_t> normalized = normalize_unique_axes(node, *axes, rank);
    for (size_t i = 0; i < n; ++i) {
      const int64_t step = steps ? (*steps)[i] : 1;
      require_node(step != 0, node, ErrorCode::kInvalidArgument, "a step is 0");
      const int64_t a = normalized[i];
      slices[a] = resolve_axis_slice((*starts)[i], (*ends)[i], step, shape[a]);
    }
    return slices;
  }

  IntsOperand starts_, ends_, axes_, steps_;
};

// ---------------------------------------------------------------------------------------------
// Gather

class GatherKernel : public Kernel {
 public:
  GatherKernel(const Node& node, int64_t) : axis_(node.get_int("axis", 0)) {
    check_known_attributes(node, {"axis"});
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    const ValueType& indices = ctx.input(1);
    require_node(indices.dtype == DType::kInt32 || indices.dtype == DType::kInt64, ctx.node(),
                 ErrorCode::kInvalidArgument,
                 std::string("indices must be int32 or int64, got ") + dtype_name(indices.dtype));
    const int64_t axis =
        normalize_axis(axis_, static_cast<int64_t>(data.shape.size()), ctx.node().label());
    Shape out(data.shape.begin(), data.shape.begin() + axis);
    out.insert(out.end(), indices.shape.begin(), indices.shape.end());
    out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
    ctx.set_output(0, data.dtype, out);
  }
  void run(RunContext& ctx) override {
    const Tensor& data = ctx.input(0);
    const int64_t axis = normalize_axis(axis_, data.rank(), ctx.node().label());
    const int64_t extent = data.dim(axis);
    const int64_t inner = product(data.shape().begin() + axis + 1, data.shape().end());
    // data as [outer, extent, inner] gathered to [outer, indices, inner].
    AxisOffsets offsets(3);
    for (int64_t o = 0; o < product(data.shape().begin(), data.shape().begin() + axis); ++o)
      offsets[0].push_back(o * extent * inner);
    for (int64_t index : ctx.input(1).to_int64_vector()) {
      require_node(index >= -extent && index < extent, ctx.node(), ErrorCode::kInvalidArgument,
                   "index " + std::to_string(index) + " is out of range for extent " +
                       std::to_string(extent));
      offsets[1].push_back((index < 0 ? index + extent : index) * inner);
    }
    for (int64_t i = 0; i < inner; ++i) offsets[2].push_back(i);
    copy_util::gather_by_axis_offsets(data.raw(), ctx.output(0).raw(), offsets,
                                      dtype_size(data.dtype()), nullptr, ctx.pool());
  }

 private:
  int64_t axis_;
};

// ---------------------------------------------------------------------------------------------
// ConstantOfShape and Constant

class ConstantOfShapeKernel : public Kernel {
 public:
  ConstantOfShapeKernel(const Node& node, int64_t) : value_(make_scalar_float(0.0f)) {
    check_known_attributes(node, {"value"});
    if (!node.has("value")) return;
    const Attribute& value = node.attributes.at("value");
    require_node(value.kind == Attribute::Kind::kTensor && value.t.size() == 1, node,
                 ErrorCode::kInvalidArgument, "attribute 'value' must be a one-element tensor");
    value_ = value.t;
  }
  void infer(InferContext& ctx) override {
    ctx.expect_dtype(0, DType::kInt64);
    Shape shape = ctx.constant_input(0, "ConstantOfShape's shape").to_int64_vector();
    for (int64_t d : shape)
      require_node(d >= 0, ctx.node(), ErrorCode::kShape,
                   "negative dimension in " + shape_to_string(shape));
    ctx.set_output(0, value_.dtype(), shape);
  }
  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    copy_util::with_element_type(dtype_size(out.dtype()), [&](auto tag) {
      using T = decltype(tag);
      T element;
      std::memcpy(&element, value_.raw(), sizeof(T));
      std::fill_n(static_cast<T*>(out.raw()), out.size(), element);
    });
  }

 private:
  Tensor value_;
};

// The importer turns Constant nodes into initializers; this covers graphs built otherwise.
class ConstantKernel : public Kernel {
 public:
  ConstantKernel(const Node& node, int64_t) {
    check_known_attributes(node,
                           {"value", "value_float", "value_floats", "value_int", "value_ints"});
    require_node(node.attributes.size() == 1, node, ErrorCode::kInvalidArgument,
                 "needs exactly one value attribute");
    if (node.has("value")) {
      value_ = node.attributes.at("value").t;
    } else if (node.has("value_float")) {
      value_ = make_scalar_float(node.get_float("value_float", 0.0f));
    } else if (node.has("value_floats")) {
      std::vector<float> floats = node.get_floats("value_floats");
      value_ = Tensor(DType::kFloat32, {static_cast<int64_t>(floats.size())});
      std::copy(floats.begin(), floats.end(), value_.data<float>());
    } else if (node.has("value_int")) {
      value_ = Tensor(DType::kInt64, {});
      *value_.data<int64_t>() = node.get_int("value_int", 0);
    } else {
      value_ = make_int64_tensor(node.get_ints("value_ints"));
    }
    require_node(value_.dtype() != DType::kUndefined, node, ErrorCode::kInvalidArgument,
                 "attribute 'value' is not a tensor");
  }
  void infer(InferContext& ctx) override { ctx.set_constant_output(0, value_); }
  void run(RunContext& ctx) override { copy_util::copy_bytes(value_, ctx.output(0)); }

 private:
  Tensor value_;
};

}  // namespace

void register_shape_ops(KernelRegistry& registry) {
  registry.add("Shape", factory<ShapeKernel>());
  registry.add("Reshape", factory<ReshapeKernel>());
  registry.add("Flatten", factory<FlattenKernel>());
  registry.add("Squeeze", factory<SqueezeKernel>());
  registry.add("Unsqueeze", factory<UnsqueezeKernel>());
  registry.add("Transpose", factory<TransposeKernel>());
  registry.add("Concat", factory<ConcatKernel>());
  registry.add("Split", factory<SplitKernel>());
  registry.add("Slice", factory<SliceKernel>());
  registry.add("Gather", factory<GatherKernel>());
  registry.add("ConstantOfShape", factory<ConstantOfShapeKernel>());
  registry.add("Constant", factory<ConstantKernel>());
}

}  // namespace qsim
