// Shared helpers for element-wise style kernels:
// - dtype dispatch: a TypeList names the element types a kernel implements; infer() checks an
//   input against it and run() instantiates the loop for the matching C++ type;
// - index walks: StridedIndex maps a range of an output's flat indices to element offsets in
//   inputs that are broadcast (numpy rules) or strided, as contiguous runs along the innermost
//   axis, so inner loops are plain pointer loops the compiler can vectorize.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernel.h"

namespace qsim {

// Below this many elements per thread, splitting a cheap element loop costs more than it saves.
constexpr int64_t kMinParallelElements = int64_t{1} << 14;

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename... Ts>
struct TypeList {};

using FloatTypes = TypeList<float>;
using SignedTypes = TypeList<float, int8_t, int32_t, int64_t>;
using NumericTypes = TypeList<float, uint8_t, int8_t, int32_t, int64_t>;

template <typename... Ts>
constexpr bool dtype_in(TypeList<Ts...>, DType dtype) {
  return ((dtype == dtype_of<Ts>()) || ...);
}

// "float32, int32" for messages.
template <typename... Ts>
std::string dtype_names(TypeList<Ts...>) {
  std::string names;
  ((names += (names.empty() ? "" : ", ") + std::string(dtype_name(dtype_of<Ts>())), void()), ...);
  return names;
}

// Throws kUnsupported naming the node unless input i has one of the dtypes of `allowed`.
template <typename List>
void require_input_dtype(const InferContext& ctx, size_t i, List allowed) {
  DType dtype = ctx.input(i).dtype;
  if (!dtype_in(allowed, dtype))
    fail_node(ctx.node(), ErrorCode::kUnsupported,
              "input '" + ctx.node().inputs[i] + "' is " + dtype_name(dtype) +
                  "; supported: " + dtype_names(allowed));
}

// Calls fn(TypeTag<T>{}) with the T of `list` whose dtype is `dtype` (infer() checked it).
template <typename... Ts, typename Fn>
void visit_dtype(TypeList<Ts...>, DType dtype, Fn&& fn) {
  bool found = ((dtype == dtype_of<Ts>() ? (fn(TypeTag<Ts>{}), true) : false) || ...);
  require(found, ErrorCode::kInternal, std::string("no loop for dtype ") + dtype_name(dtype));
}

// Throws kInvalidArgument unless the node has between min and max inputs (optional inputs
// given as empty names count).
void require_input_count(const Node& node, size_t min, size_t max);

// Axes of an index walk with per-operand strides, simplified: size-1 axes dropped and
// neighbours merged where every operand is contiguous across them. Never empty.
struct WalkAxes {
  Shape dims;
  std::vector<std::vector<int64_t>> strides;  // strides[operand][axis]
};
WalkAxes merge_axes(const Shape& dims, std::vector<std::vector<int64_t>> strides);

// Walks a row-major index space of `shape` where N operands have their own strides per axis
// (0 on broadcast axes).
template <size_t N>
class StridedIndex {
 public:
  using Offsets = std::array<int64_t, N>;

  StridedIndex(const Shape& shape, std::array<std::vector<int64_t>, N> strides)
      : axes_(merge_axes(shape, {strides.begin(), strides.end()})), size_(element_count(shape)) {}

  int64_t size() const { return size_; }

  // Calls run(offsets, steps, first, count) for consecutive runs covering flat indices
  // [begin, end): index first + j (j < count) is element offsets[k] + j * steps[k] of operand k.
  template <typename Fn>
  void for_each_run(int64_t begin, int64_t end, Fn&& run) const {
    if (begin >= end) return;
    const size_t inner_axis = axes_.dims.size() - 1;
    Offsets steps, at{};
    for (size_t k = 0; k < N; ++k) steps[k] = axes_.strides[k][inner_axis];
    if (inner_axis == 0) {
      for (size_t k = 0; k < N; ++k) at[k] = begin * steps[k];
      run(at, steps, begin, end - begin);
      return;
    }
    std::vector<int64_t> index(axes_.dims.size());
    int64_t rest = begin;
    for (size_t d = axes_.dims.size(); d-- > 0;) {
      index[d] = rest % axes_.dims[d];
      rest /= axes_.dims[d];
      for (size_t k = 0; k < N; ++k) at[k] += index[d] * axes_.strides[k][d];
    }
    for (int64_t first = begin; first < end;) {
      int64_t count = std::min(axes_.dims[inner_axis] - index[inner_axis], end - first);
      run(at, steps, first, count);
      first += count;
      // Back to the row start, then carry into the outer axes like an odometer.
      for (size_t k = 0; k < N; ++k) at[k] -= index[inner_axis] * steps[k];
      index[inner_axis] = 0;
      for (size_t d = inner_axis; d-- > 0;) {
        for (size_t k = 0; k < N; ++k) at[k] += axes_.strides[k][d];
        if (++index[d] < axes_.dims[d]) break;
        for (size_t k = 0; k < N; ++k) at[k] -= axes_.dims[d] * axes_.strides[k][d];
        index[d] = 0;
      }
    }
  }

 private:
  WalkAxes axes_;
  int64_t size_;
};

// The walk over `out` of operands with shapes `inputs` broadcast to it (numpy rules).
template <size_t N>
StridedIndex<N> broadcast_index(const std::array<Shape, N>& inputs, const Shape& out) {
  std::array<std::vector<int64_t>, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(inputs[k], out);
  return StridedIndex<N>(out, std::move(strides));
}

// out[j] = op(a[j * a_step], b[j * b_step]) for j < n, where steps are 0 (broadcast) or 1;
// each case is its own loop so that the compiler vectorizes it.
template <typename A, typename B, typename R, typename Op>
void binary_run(const A* a, int64_t a_step, const B* b, int64_t b_step, R* out, int64_t n, Op op) {
  if (a_step != 0 && b_step != 0) {
    for (int64_t j = 0; j < n; ++j) out[j] = op(a[j], b[j]);
  } else if (a_step != 0) {
    const B b0 = *b;
    for (int64_t j = 0; j < n; ++j) out[j] = op(a[j], b0);
  } else if (b_step != 0) {
    const A a0 = *a;
    for (int64_t j = 0; j < n; ++j) out[j] = op(a0, b[j]);
  } else {
    std::fill_n(out, n, op(*a, *b));
  }
}

// out = op(a, b) with a and b broadcast to out's shape. `out` may be `a` or `b` when that
// operand already has out's shape.
template <typename A, typename B, typename R, typename Op>
void broadcast_binary(ThreadPool& pool, const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const StridedIndex<2> index = broadcast_index<2>({a.shape(), b.shape()}, out.shape());
  const A* a_data = a.data<A>();
  const B* b_data = b.data<B>();
  R* out_data = out.data<R>();
  pool.parallel_for(
      index.size(),
      [&](int64_t begin, int64_t end) {
        index.for_each_run(begin, end,
                           [&](const auto& at, const auto& step, int64_t first, int64_t count) {
                             binary_run(a_data + at[0], step[0], b_data + at[1], step[1],
                                        out_data + first, count, op);
                           });
      },
      kMinParallelElements);
}

// out[j] = op(in[j]) for j < n. The pointers are parameters, not captures: a store through
// a uint8_t* may alias any memory, so captured pointers would be reloaded every iteration.
template <typename T, typename R, typename Op>
void unary_run(const T* in, R* out, int64_t n, Op op) {
  for (int64_t j = 0; j < n; ++j) out[j] = op(in[j]);
}

// out[i] = op(in[i]) for i < n.
template <typename T, typename R, typename Op>
void map_elements(ThreadPool& pool, const T* in, R* out, int64_t n, Op op) {
  pool.parallel_for(
      n, [&](int64_t begin, int64_t end) { unary_run(in + begin, out + begin, end - begin, op); },
      kMinParallelElements);
}

// A kernel mapping each element of its one input through an Op: a functor with a templated
// `T operator()(T) const` and `using Types = TypeList<...>` naming the dtypes it takes.
template <typename Op>
class UnaryKernel : public Kernel {
 public:
  explicit UnaryKernel(Op op) : op_(op) {}

  void infer(InferContext& ctx) override {
    require_input_dtype(ctx, 0, typename Op::Types{});
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    visit_dtype(typename Op::Types{}, in.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      map_elements(ctx.pool(), in.data<T>(), ctx.output(0).data<T>(), in.size(), op_);
    });
  }

 private:
  Op op_;
};

// The factory of a UnaryKernel whose op has no attributes.
template <typename Op>
KernelFactory unary_factory() {
  return [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {});
    require_input_count(node, 1, 1);
    return std::make_unique<UnaryKernel<Op>>(Op{});
  };
}

}  // namespace qsim
