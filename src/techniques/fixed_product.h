// Products A B against one fixed B, many times over (AdaRound's (W~ - W) C at every
// iteration): B is copied once into rows padded to whole vectors, which register tiles of
// A's rows times 64 of B's columns read straight, without the packing sgemm repeats per call.
// Each result is summed over the depth in order, whatever the tiling, so any split of A's
// rows gives the same bits.
#pragma once

#include <cstdint>
#include <vector>
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

class FixedRightProduct {
 public:
  // `b`: depth x cols, rows `ldb` apart.
  FixedRightProduct(const float* b, int64_t depth, int64_t cols, int64_t ldb);

  // out [rows x cols] (rows `ldo` apart) = a [rows x depth] (rows `lda` apart) B.
  void multiply(const float* a, int64_t rows, int64_t lda, float* out, int64_t ldo) const;

 private:
  int64_t depth_, cols_, stride_;
  std::vector<float> b_;  // depth x stride_, zero past cols_
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
