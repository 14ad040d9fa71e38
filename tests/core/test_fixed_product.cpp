// FixedRightProduct (src/techniques/fixed_product.h) against a plain double-precision product,
// over shapes that leave partial register tiles, and its bits under any split of A's rows.
#include <cmath>
#include <random>
#include <vector>

#include "techniques/fixed_product.h"
#include "path_test.h"

using namespace qsim;
using namespace qsim::QSIM_ISA_NS;

namespace {

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace

PATH_TEST_CASE("a product by a fixed matrix equals the plain product, for any split of the rows") {
  struct Shape {
    int64_t rows, depth, cols;
  };
  for (const Shape s : {Shape{1, 1, 1}, Shape{7, 33, 17}, Shape{13, 65, 80}, Shape{64, 37, 130}}) {
    INFO(s.rows << " x " << s.depth << " x " << s.cols);
    const int64_t lda = s.depth + 3, ldb = s.cols + 5, ldo = s.cols + 2;
    const std::vector<float> a = random_floats(s.rows * lda, 1),
                             b = random_floats(s.depth * ldb, 2);
    const FixedRightProduct product(b.data(), s.depth, s.cols, ldb);
    std::vector<float> out(static_cast<size_t>(s.rows * ldo), -7.0f);
    product.multiply(a.data(), s.rows, lda, out.data(), ldo);
    double worst = 0.0;
    int64_t untouched = 0;
    for (int64_t i = 0; i < s.rows; ++i) {
      for (int64_t j = 0; j < s.cols; ++j) {
        double sum = 0.0;
        for (int64_t k = 0; k < s.depth; ++k)
          sum += static_cast<double>(a[i * lda + k]) * b[k * ldb + j];
        worst = std::max(worst, std::fabs(sum - out[i * ldo + j]));
      }
      for (int64_t j = s.cols; j < ldo; ++j) untouched += out[i * ldo + j] == -7.0f;
    }
    CHECK(worst < 1e-5 * static_cast<double>(s.depth));
    CHECK(untouched == s.rows * (ldo - s.cols));  // nothing written past the columns

    std::vector<float> split(out.size(), -7.0f);
    for (int64_t r0 = 0; r0 < s.rows; r0 += 5)
      product.multiply(a.data() + r0 * lda, std::min<int64_t>(5, s.rows - r0), lda,
                       split.data() + r0 * ldo, ldo);
    CHECK(split == out);
  }
}
