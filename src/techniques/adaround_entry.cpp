// qsim::adaround on the kernel path the process takes: AdaRound's losses, step and optimizer
// are compiled once per path (src/CMakeLists.txt), from adaround.cpp down.
#include <cmath>
#include <string>

#include "techniques/adaround.h"
#include "util/error.h"
#include "util/isa_dispatch.h"
#include "util/number_text.h"

namespace qsim {

namespace {

void check_positive(double value, const char* name) {
  require(std::isfinite(value) && value > 0.0, ErrorCode::kInvalidArgument,
          std::string("adaround: ") + name + " is " + number_text(value) + "; it must be positive");
}

void check_count(int64_t value, const char* name) {
  require(value >= 1, ErrorCode::kInvalidArgument,
          std::string("adaround: ") + name + " is " + std::to_string(value) +
              "; it must be at least 1");
}

}  // namespace

void check_adaround_options(const AdaRoundOptions& o) {
  check_count(o.iterations, "iterations");
  check_count(o.adaquant.iterations, "adaquant iterations");
  check_count(o.samples, "samples");
  check_count(o.batch_samples, "batch_samples");
  check_positive(o.learning_rate, "learning_rate");
  check_positive(o.adaquant.learning_rate, "adaquant learning_rate");
  check_positive(o.beta_start, "beta_start");
  check_positive(o.beta_end, "beta_end");
  require(std::isfinite(o.regularization) && o.regularization >= 0.0, ErrorCode::kInvalidArgument,
          "adaround: regularization is " + number_text(o.regularization) +
              "; it must be zero or positive");
  require(o.warm_start >= 0.0 && o.warm_start < 1.0, ErrorCode::kInvalidArgument,
          "adaround: warm_start is " + number_text(o.warm_start) + "; it must be in [0, 1)");
  require(o.zeta > 1.0 && o.gamma < 0.0 && std::isfinite(o.zeta) && std::isfinite(o.gamma),
          ErrorCode::kInvalidArgument,
          "adaround: zeta " + number_text(o.zeta) + " and gamma " + number_text(o.gamma) +
              " must stretch the sigmoid past [0, 1] (zeta > 1, gamma < 0)");
  require(o.num_threads >= 0, ErrorCode::kInvalidArgument,
          "adaround: num_threads is " + std::to_string(o.num_threads) +
              "; it must be 0 (all cores) or more");
  require(o.memory_budget_bytes >= 0, ErrorCode::kInvalidArgument,
          "adaround: memory_budget_bytes is " + std::to_string(o.memory_budget_bytes) +
              "; it must be 0 or more");
}

#define QSIM_DECLARE_ADAROUND(ns)                                                      \
  namespace ns {                                                                       \
  AdaRoundReport adaround(QuantSim& sim, const BatchReader& next_batch,                \
                          const AdaRoundOptions& options, const ProgressFn& progress); \
  }
QSIM_FOR_EACH_ISA(QSIM_DECLARE_ADAROUND)
#undef QSIM_DECLARE_ADAROUND

AdaRoundReport adaround(QuantSim& sim, const BatchReader& next_batch,
                        const AdaRoundOptions& options, const ProgressFn& progress) {
  check_adaround_options(options);
  return QSIM_ISA_ENTRY(adaround)(sim, next_batch, options, progress);
}

}  // namespace qsim
