#include "logit_agreement.h"

#include <algorithm>
#include <cmath>

#include "fmnist_data.h"
#include "util/error.h"

namespace qsim::tools {

double rms_difference(const Tensor& a, const Tensor& b) {
  require(a.shape() == b.shape(), ErrorCode::kShape,
          "rms difference of " + a.describe() + " and " + b.describe());
  double sum = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const double diff = double{a.data<float>()[i]} - double{b.data<float>()[i]};
    sum += diff * diff;
  }
  return a.size() == 0 ? 0.0 : std::sqrt(sum / static_cast<double>(a.size()));
}

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
  a.rms = rms_difference(sim, ort);
  return a;
}

}  // namespace qsim::tools
