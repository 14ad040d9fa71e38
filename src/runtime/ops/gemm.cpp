// Gemm and MatMul on float32 through OpenBLAS sgemm (the serial build; qsim threads by
// cutting products into tiles whose boundaries depend on the shapes only, so each output
// element is computed by the same call whatever the thread count).
#include <algorithm>

#include "runtime/blas.h"
#include "runtime/ops/conv_params.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

// A tile does at least this many multiply-adds, so threads are not woken for crumbs; a
// product is cut into at most kMaxTiles tiles since each re-packs the shared operand.
constexpr int64_t kMinTileMacs = int64_t{1} << 20;
constexpr int64_t kMaxTiles = 4;

// C (m x n, row-major) = alpha * op(A) * op(B), added onto C when `accumulate`.
struct Product {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  float alpha = 1.0f;
  bool accumulate = false;
  int64_t lda() const { return trans_a ? m : k; }
  int64_t ldb() const { return trans_b ? k : n; }
};

// How a product is cut: `count` tiles of `size` rows (or columns when !by_rows) each.
struct Tiling {
  int64_t count = 1;
  int64_t size = 0;
  bool by_rows = true;
};

Tiling tile_product(const Product& p) {
  const int64_t wanted = std::clamp<int64_t>(p.m * p.n * p.k / kMinTileMacs, 1, kMaxTiles);
  Tiling t;
  t.by_rows = p.m >= p.n;
  const int64_t extent = std::max<int64_t>(1, t.by_rows ? p.m : p.n);
  t.size = ceil_div(extent, wanted);
  t.count = ceil_div(extent, t.size);
  return t;
}

// Computes one tile of the output, after before(c_tile, row0, col0, rows, cols) has written
// what an accumulating product adds onto.
template <typename Before>
void run_tile(const Product& p, const Tiling& t, int64_t tile, const float* a, const float* b,
              float* c, Before&& before) {
  const int64_t begin = tile * t.size;
  const int64_t end = std::min(t.by_rows ? p.m : p.n, begin + t.size);
  int64_t rows = p.m, cols = p.n;
  if (t.by_rows) {
    a += p.trans_a ? begin : begin * p.k;
    c += begin * p.n;
    rows = end - begin;
  } else {
    b += p.trans_b ? begin * p.k : begin;
    c += begin;
    cols = end - begin;
  }
  if (rows == 0 || cols == 0) return;
  before(c, t.by_rows ? begin : 0, t.by_rows ? 0 : begin, rows, cols);
  if (p.k == 0) {  // an empty sum; sgemm rejects k = 0 leading dimensions
    if (!p.accumulate)
      for (int64_t i = 0; i < rows; ++i) std::fill(c + i * p.n, c + i * p.n + cols, 0.0f);
    return;
  }
  cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans,
              p.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols),
              static_cast<int>(p.k), p.alpha, a, static_cast<int>(p.lda()), b,
              static_cast<int>(p.ldb()), p.accumulate ? 1.0f : 0.0f, c, static_cast<int>(p.n));
}

auto nothing_before = [](float*, int64_t, int64_t, int64_t, int64_t) {};

// Gemm and MatMul also allow integer operands in ONNX; qsim computes them in float only.
void expect_float_operand(const InferContext& ctx, size_t i) {
  const DType dtype = ctx.input(i).dtype;
  if (dtype == DType::kInt32 || dtype == DType::kInt64)
    fail_node(ctx.node(), ErrorCode::kUnsupported,
              std::string(dtype_name(dtype)) + " operands are not supported (float32 only)");
  ctx.expect_dtype(i, DType::kFloat32);
}

int64_t min_chunk_for(int64_t macs_per_item) {
  return std::max<int64_t>(1, kMinTileMacs / std::max<int64_t>(1, macs_per_item));
}

// ----- Gemm: Y = alpha * A' * B' + beta * C, C broadcast to (M, N) -----

class GemmKernel : public Kernel {
 public:
  explicit GemmKernel(const Node& node)
      : alpha_(node.get_float("alpha", 1.0f)),
        beta_(node.get_float("beta", 1.0f)),
        trans_a_(read_flag(node, "transA")),
        trans_b_(read_flag(node, "transB")) {}

  void infer(InferContext& ctx) override {
    for (size_t i = 0; i < 3; ++i)
      if (ctx.has_input(i)) expect_float_operand(ctx, i);
    const Product p = product(ctx.node(), ctx.input(0).shape, ctx.input(1).shape);
    if (ctx.has_input(2)) check_c(ctx.node(), ctx.input(2).shape, p);
    ctx.set_output(0, DType::kFloat32, {p.m, p.n});
  }

  void run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Product p = product(ctx.node(), a.shape(), b.shape());
    const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    // beta * C goes into Y first and sgemm adds onto it.
    p.accumulate = c != nullptr;
    const BroadcastC c_view = c == nullptr ? BroadcastC{} : broadcast_c(*c);
    const Tiling t = tile_product(p);
    float* y = ctx.output(0).data<float>();
    parallel_for_in_place(ctx.pool(), t.count, [&](int64_t first, int64_t last) {
      for (int64_t tile = first; tile < last; ++tile)
        run_tile(p, t, tile, a.data<float>(), b.data<float>(), y,
                 [&](float* out, int64_t row0, int64_t col0, int64_t rows, int64_t cols) {
                   if (c_view.data != nullptr)
                     fill_scaled_c(c_view, p.n, row0, col0, rows, cols, out);
                 });
    });
  }

 private:
  // C seen through its broadcast to (M, N): element (i, j) is data[i * row_step + j * col_step].
  struct BroadcastC {
    const float* data = nullptr;
    int64_t row_step = 0;
    int64_t col_step = 0;
    float beta = 0.0f;
  };

  Product product(const Node& node, const Shape& a, const Shape& b) const {
    if (a.size() != 2 || b.size() != 2)
      fail_node(node, ErrorCode::kShape,
                "A " + shape_to_string(a) + " and B " + shape_to_string(b) + " must be 2-D");
    Product p;
    p.trans_a = trans_a_;
    p.trans_b = trans_b_;
    p.m = trans_a_ ? a[1] : a[0];
    p.k = trans_a_ ? a[0] : a[1];
    p.n = trans_b_ ? b[0] : b[1];
    p.alpha = alpha_;
    if ((trans_b_ ? b[1] : b[0]) != p.k)
      fail_node(node, ErrorCode::kShape,
                "A " + shape_to_string(a) + " and B " + shape_to_string(b) +
                    " do not multiply (transA " + std::to_string(trans_a_) + ", transB " +
                    std::to_string(trans_b_) + ")");
    return p;
  }

  // C's (rows, cols) as right-aligned against (M, N).
  static std::pair<int64_t, int64_t> c_extent(const Shape& c) {
    return {c.size() == 2 ? c[0] : 1, c.empty() ? 1 : c.back()};
  }

  static void check_c(const Node& node, const Shape& c, const Product& p) {
    const auto [rows, cols] = c_extent(c);
    if (c.size() > 2 || (rows != 1 && rows != p.m) || (cols != 1 && cols != p.n))
      fail_node(node, ErrorCode::kShape,
                "C " + shape_to_string(c) + " does not broadcast to [" + std::to_string(p.m) + "," +
                    std::to_string(p.n) + "]");
  }

  BroadcastC broadcast_c(const Tensor& c) const {
    const auto [rows, cols] = c_extent(c.shape());
    return {c.data<float>(), rows == 1 ? 0 : cols, cols == 1 ? 0 : 1, beta_};
  }

  static void fill_scaled_c(const BroadcastC& c, int64_t ldy, int64_t row0, int64_t col0,
                            int64_t rows, int64_t cols, float* out) {
    for (int64_t i = 0; i < rows; ++i) {
      const float* c_row = c.data + (row0 + i) * c.row_step + col0 * c.col_step;
      float* y_row = out + i * ldy;
      for (int64_t j = 0; j < cols; ++j) y_row[j] = c.beta * c_row[j * c.col_step];
    }
  }

  float alpha_;
  float beta_;
  bool trans_a_;
  bool trans_b_;
};

// ----- MatMul: numpy matmul, batch dimensions broadcast -----

// The operands of a MatMul as batches of matrices. A 1-D A is a single row and a 1-D B a
// single column; that dimension is dropped from the output, as in numpy.
struct MatMulShapes {
  Shape batch_a;  // batch dimensions, right-aligned to out_batch
  Shape batch_b;
  Shape out_batch;
  Product p;
  Shape output;

  // B has no batch of its own: A's batch folds into the rows of one product.
  bool folds() const {
    return std::all_of(batch_b.begin(), batch_b.end(), [](int64_t d) { return d == 1; }) &&
           element_count(batch_a) == element_count(out_batch);
  }
};

MatMulShapes matmul_shapes(const Node& node, const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    fail_node(node, ErrorCode::kShape, "MatMul operands must have at least one dimension");
  MatMulShapes s;
  const bool a_vector = a.size() == 1;
  const bool b_vector = b.size() == 1;
  s.p.m = a_vector ? 1 : a[a.size() - 2];
  s.p.k = a.back();
  const int64_t b_k = b_vector ? b[0] : b[b.size() - 2];
  s.p.n = b_vector ? 1 : b.back();
  if (b_k != s.p.k)
    fail_node(node, ErrorCode::kShape,
              "A " + shape_to_string(a) + " and B " + shape_to_string(b) + " do not multiply");
  s.batch_a = Shape(a.begin(), a.end() - (a_vector ? 1 : 2));
  s.batch_b = Shape(b.begin(), b.end() - (b_vector ? 1 : 2));
  const size_t rank = std::max(s.batch_a.size(), s.batch_b.size());
  s.batch_a.insert(s.batch_a.begin(), rank - s.batch_a.size(), 1);
  s.batch_b.insert(s.batch_b.begin(), rank - s.batch_b.size(), 1);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t da = s.batch_a[d], db = s.batch_b[d];
    if (da != db && da != 1 && db != 1)
      fail_node(node, ErrorCode::kShape,
                "batch dimensions of A " + shape_to_string(a) + " and B " + shape_to_string(b) +
                    " do not broadcast");
    s.out_batch.push_back(da == 1 ? db : da);
  }
  s.output = s.out_batch;
  if (!a_vector) s.output.push_back(s.p.m);
  if (!b_vector) s.output.push_back(s.p.n);
  return s;
}

// Offset of batch entry `index` of out_batch within an operand of batch shape `batch`
// (broadcast dimensions of size 1 stay at 0), in matrices.
int64_t batch_offset(const Shape& out_batch, const Shape& batch, int64_t index) {
  int64_t offset = 0, scale = 1;
  for (size_t d = out_batch.size(); d-- > 0;) {
    const int64_t i = index % out_batch[d];
    index /= out_batch[d];
    if (batch[d] != 1) offset += i * scale;
    scale *= batch[d];
  }
  return offset;
}

class MatMulKernel : public Kernel {
 public:
  void infer(InferContext& ctx) override {
    expect_float_operand(ctx, 0);
    expect_float_operand(ctx, 1);
    ctx.set_output(0, DType::kFloat32,
                   matmul_shapes(ctx.node(), ctx.input(0).shape, ctx.input(1).shape).output);
  }

  void run(RunContext& ctx) override {
    const Tensor& a_tensor = ctx.input(0);
    const Tensor& b_tensor = ctx.input(1);
    MatMulShapes s = matmul_shapes(ctx.node(), a_tensor.shape(), b_tensor.shape());
    const float* a = a_tensor.data<float>();
    const float* b = b_tensor.data<float>();
    float* y = ctx.output(0).data<float>();
    if (s.folds()) {
      s.p.m *= element_count(s.out_batch);
      const Tiling t = tile_product(s.p);
      parallel_for_in_place(ctx.pool(), t.count, [&](int64_t first, int64_t last) {
        for (int64_t tile = first; tile < last; ++tile)
          run_tile(s.p, t, tile, a, b, y, nothing_before);
      });
      return;
    }
    const Tiling t = tile_product(s.p);
    const int64_t a_size = s.p.m * s.p.k, b_size = s.p.k * s.p.n, y_size = s.p.m * s.p.n;
    parallel_for_in_place(
        ctx.pool(), element_count(s.out_batch) * t.count,
        [&](int64_t first, int64_t last) {
          for (int64_t item = first; item < last; ++item) {
            const int64_t batch = item / t.count;
            run_tile(s.p, t, item % t.count,
                     a + batch_offset(s.out_batch, s.batch_a, batch) * a_size,
                     b + batch_offset(s.out_batch, s.batch_b, batch) * b_size, y + batch * y_size,
                     nothing_before);
          }
        },
        min_chunk_for(y_size * s.p.k / t.count));
  }
};

}  // namespace

void register_gemm_ops(KernelRegistry& registry) {
  registry.add("Gemm", [](const Node& node, int64_t opset) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {"alpha", "beta", "transA", "transB"});
    require_node(opset >= 11 || node.has_input(2), node, ErrorCode::kInvalidArgument,
                 "input C is required before opset 11");
    return std::make_unique<GemmKernel>(node);
  });
  registry.add("MatMul", [](const Node& node, int64_t) -> std::unique_ptr<Kernel> {
    check_known_attributes(node, {});
    return std::make_unique<MatMulKernel>();
  });
}

}  // namespace qsim
