// qsim_smooth_quant: SmoothQuant (techniques/smooth_quant.h) added to the session's transforms.
#include "techniques/smooth_quant.h"

#include <memory>
#include <string>

#include "capi/guard.h"
#include "capi/options.h"
#include "capi/session.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

qsim_smooth_quant_options default_smooth_quant_options() {
  qsim_smooth_quant_options d{};
  d.struct_size = sizeof d;
  d.alpha = SmoothQuantOptions{}.alpha;
  d.num_samples = 512;
  return d;
}

}  // namespace

extern "C" {

qsim_status qsim_smooth_quant_options_init(qsim_smooth_quant_options* options,
                                           uint32_t struct_size) {
  return guard([&] {
    require_arg(options, "qsim_smooth_quant_options_init", "options");
    capi::write_versioned(options, struct_size, default_smooth_quant_options(),
                          "qsim_smooth_quant_options_init");
  });
}

qsim_status qsim_smooth_quant(qsim_session* session, qsim_data_reader_fn reader, void* reader_data,
                              const qsim_smooth_quant_options* options, qsim_progress_fn progress,
                              void* progress_data) {
  return capi::guard_session(session, "qsim_smooth_quant", capi::SessionAccess::kWrite, [&] {
    require(reader != nullptr, ErrorCode::kInvalidArgument, "qsim_smooth_quant: reader is NULL");
    const qsim_smooth_quant_options o =
        capi::read_versioned(options, default_smooth_quant_options(), "qsim_smooth_quant_options",
                             "qsim_smooth_quant_options_init(&o, sizeof o)");
    require(
        o.alpha >= 0.0 && o.alpha <= 1.0, ErrorCode::kInvalidArgument,
        "qsim_smooth_quant_options.alpha is " + std::to_string(o.alpha) + "; it must be in [0, 1]");
    require(o.num_samples >= 1, ErrorCode::kInvalidArgument,
            "qsim_smooth_quant_options.num_samples is " + std::to_string(o.num_samples) +
                "; give 1 or more");
    require(session->quantsim == nullptr, ErrorCode::kState,
            "qsim_smooth_quant: call it before qsim_calibrate or qsim_load_encodings");
    for (const std::string& name : session->applied_transforms)
      require(name != "smooth_quant", ErrorCode::kState,
              "qsim_smooth_quant: SmoothQuant is already among the session's transforms");
    // The model as the session's transforms so far leave it: the statistics must see it.
    const Model transformed =
        apply_transforms(*session->model, session->quant_options.transforms).model;
    SmoothQuantOptions sq;
    sq.alpha = o.alpha;
    auto maxima = std::make_shared<const ActivationMaxima>(smooth_quant_statistics(
        transformed, capi::batch_reader(*session, reader, reader_data, "qsim_smooth_quant"),
        o.num_samples, session->quant_options.nan_policy,
        capi::progress_fn(progress, progress_data)));
    session->applied_transforms.reserve(session->applied_transforms.size() + 1);
    session->quant_options.transforms.push_back(smooth_quant_transform(std::move(maxima), sq));
    session->applied_transforms.push_back("smooth_quant");  // reserved: cannot throw
  });
}

}  // extern "C"
