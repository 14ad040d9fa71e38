#include "logit_agreement.h"

#include <algorithm>
#include <cmath>

#include "fmnist_data.h"
#include "util/error.h"

namespace qsim::tools {

Agreement compare_logits(const Tensor& sim, const Tensor& ort, float step) {
  require(sim.shape() == ort.shape(), ErrorCode::kShape,
          "logits: qsim " + sim.describe() + ", ONNX Runtime " + ort.describe());
  Agreement a;
  a.images = sim.dim(0);
  a.elements = sim.size();
  for (int64_t row = 0; row < a.images; ++row) {
    const int64_t sim_class = argmax_row(sim, row), ort_class = argmax_row(ort, row);
    a.same_class += sim_class == ort_class;
    a.sim_correct += sim_class == fmnist_test_label(row);
    a.ort_correct += ort_class == fmnist_test_label(row);
  }
  for (int64_t i = 0; i < a.elements; ++i) {
    const double diff = std::fabs(double{sim.data<float>()[i]} - double{ort.data<float>()[i]});
    a.within_one_step += diff <= step * kStepTolerance;
    a.identical += diff == 0;
    a.max_steps = std::max(a.max_steps, diff / step);
  }
  return a;
}

}  // namespace qsim::tools
