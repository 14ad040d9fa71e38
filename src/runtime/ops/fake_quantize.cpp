#include <algorithm>
#include <cmath>
#include <cstdint>

#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

void fake_quantize_floats(float* values, int64_t count, float scale, float offset, float top) {
  for (int64_t i = 0; i < count; ++i) {
    float q = std::nearbyint(values[i] / scale) - offset;
    q = std::min(std::max(q, 0.0f), top);
    values[i] = (q + offset) * scale;
  }
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
