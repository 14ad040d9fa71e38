// qsim_adaround: AdaRound and AdaQuant (techniques/adaround.h), and bias correction
// (techniques/bias_correction.h), on a calibrated session.
#include "techniques/adaround.h"

#include <cstdint>
#include <string>

#include "capi/guard.h"
#include "capi/options.h"
#include "capi/session.h"
#include "techniques/bias_correction.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

qsim_adaround_options default_adaround_options() {
  const AdaRoundOptions core;
  qsim_adaround_options d{};
  d.struct_size = sizeof d;
  d.mode = QSIM_ADAROUND;
  d.num_iterations = static_cast<int32_t>(core.iterations);
  d.num_samples = static_cast<int32_t>(core.samples);
  d.batch_samples = static_cast<int32_t>(core.batch_samples);
  d.num_threads = 0;
  d.seed = core.seed;
  d.memory_budget_bytes = static_cast<uint64_t>(core.memory_budget_bytes);
  d.regularization = core.regularization;
  d.beta_start = core.beta_start;
  d.beta_end = core.beta_end;
  d.warm_start = core.warm_start;
  d.learning_rate = core.learning_rate;
  d.zeta = core.zeta;
  d.gamma = core.gamma;
  d.adaquant_iterations = static_cast<int32_t>(core.adaquant.iterations);
  d.adaquant_early_stop = core.adaquant.early_stop ? 1 : 0;
  d.adaquant_learning_rate = core.adaquant.learning_rate;
  d.adaquant_train_bias = core.adaquant.train_bias ? 1 : 0;
  return d;
}

// The caller's options over the defaults; the core checks the ranges.
qsim_adaround_options read_raw_options(const qsim_adaround_options* options) {
  const qsim_adaround_options o = capi::read_versioned(
      options, default_adaround_options(), "qsim_adaround_options", "qsim_adaround_options_init(&o, sizeof o)");
  require(o.mode == QSIM_ADAROUND || o.mode == QSIM_ADAQUANT || o.mode == QSIM_BIAS_CORRECTION ||
              o.mode == QSIM_BIAS_CORRECTION_ANALYTICAL,
          ErrorCode::kInvalidArgument,
          "qsim_adaround_options.mode is " + std::to_string(static_cast<int>(o.mode)) +
              ", not a qsim_adaround_mode");
  require(o.memory_budget_bytes <= static_cast<uint64_t>(INT64_MAX), ErrorCode::kInvalidArgument,
          "qsim_adaround_options.memory_budget_bytes is too large");
  return o;
}

AdaRoundOptions adaround_options(const qsim_adaround_options& o, int session_threads) {
  AdaRoundOptions r;
  r.mode = o.mode == QSIM_ADAROUND ? AdaRoundMode::kAdaRound : AdaRoundMode::kAdaQuant;
  r.iterations = o.num_iterations;
  r.samples = o.num_samples;
  r.batch_samples = o.batch_samples;
  r.num_threads = o.num_threads != 0 ? o.num_threads : session_threads;
  r.seed = o.seed;
  r.memory_budget_bytes = static_cast<int64_t>(o.memory_budget_bytes);
  r.regularization = o.regularization;
  r.beta_start = o.beta_start;
  r.beta_end = o.beta_end;
  r.warm_start = o.warm_start;
  r.learning_rate = o.learning_rate;
  r.zeta = o.zeta;
  r.gamma = o.gamma;
  r.adaquant.iterations = o.adaquant_iterations;
  r.adaquant.early_stop = o.adaquant_early_stop != 0;
  r.adaquant.learning_rate = o.adaquant_learning_rate;
  r.adaquant.train_bias = o.adaquant_train_bias != 0;
  return r;
}

}  // namespace

extern "C" {

qsim_status qsim_adaround_options_init(qsim_adaround_options* options, uint32_t struct_size) {
  return guard([&] {
    require_arg(options, "qsim_adaround_options_init", "options");
    capi::write_versioned(options, struct_size, default_adaround_options(),
                          "qsim_adaround_options_init");
  });
}

qsim_status qsim_adaround(qsim_session* session, qsim_data_reader_fn reader, void* reader_data,
                          const qsim_adaround_options* options, qsim_progress_fn progress,
                          void* progress_data) {
  return capi::guard_session(session, "qsim_adaround", capi::SessionAccess::kWrite, [&] {
    require(reader != nullptr, ErrorCode::kInvalidArgument, "qsim_adaround: reader is NULL");
    const qsim_adaround_options raw = read_raw_options(options);
    const AdaRoundOptions resolved = adaround_options(raw, session->quant_options.num_threads);
    require(session->quantsim != nullptr, ErrorCode::kState,
            "qsim_adaround: the session has no encodings yet; calibrate or load encodings first");
    const BatchReader batches = capi::batch_reader(*session, reader, reader_data, "qsim_adaround");
    if (raw.mode == QSIM_BIAS_CORRECTION || raw.mode == QSIM_BIAS_CORRECTION_ANALYTICAL) {
      BiasCorrectionOptions bc;
      bc.analytical = raw.mode == QSIM_BIAS_CORRECTION_ANALYTICAL;
      bc.samples = raw.num_samples;
      bc.memory_budget_bytes = static_cast<int64_t>(raw.memory_budget_bytes);
      correct_bias(*session->quantsim, batches, bc, capi::progress_fn(progress, progress_data));
      return;
    }
    adaround(*session->quantsim, batches, resolved, capi::progress_fn(progress, progress_data));
  });
}

}  // extern "C"
