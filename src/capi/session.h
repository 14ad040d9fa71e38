// The object behind the opaque qsim_session handle.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "capi/guard.h"
#include "graph/graph.h"
#include "qsim/qsim.h"
#include "quant/encoding_set.h"
#include "quant/quantsim.h"
#include "runtime/blas.h"
#include "runtime/engine.h"

struct qsim_session {
  std::shared_ptr<const qsim::Model> model;
  // The model as loaded, for QSIM_RUN_FLOAT: float results stay exactly the original
  // model's, whatever QuantSim folds.
  std::unique_ptr<qsim::Engine> engine;
  qsim::QuantSimOptions quant_options;
  // Made by the first call that quantizes, so sessions that only run float pay nothing.
  std::unique_ptr<qsim::QuantSim> quantsim;
  // Set by a successful calibration or load (the getters and exports need one).
  bool has_encodings = false;
  std::vector<std::string> export_notes;  // warnings of the last export that wrote files
  uint32_t exported_formats = 0;          // qsim_export_format bits the last export wrote
  // Transforms added by calls after qsim_create (qsim_smooth_quant), by name.
  std::vector<std::string> applied_transforms;

  qsim::QuantSim& quant();
  // What the encoding getters list: QuantSim's encodings, copied on the first call after a
  // change (not by the call that changes them, which then could fail after its change and
  // break its promise to leave the session as it was). Names stay valid until the next call
  // after a change. kState before a calibration or load.
  const qsim::EncodingSet& listed_encodings(const char* function) const;
  // A copy of `name` that lives as long as the session (qsim_encoding_info.name: the
  // encodings it came from are replaced by calibration, loading and AdaRound).
  const char* lasting_name(const std::string& name) const;

  // qsim_session_last_error: the message of the session's last call ("" after a success).
  void record_error(const char* message) const noexcept;
  const char* last_error() const noexcept;

  // Set while a call that changes the session runs. A callback that calls back into its own
  // session gets kState instead of changing what the running call works on.
  mutable std::atomic<bool> busy{false};

 private:
  mutable std::mutex error_mutex_;
  mutable qsim::capi::KeptMessage last_error_;
  mutable std::mutex names_mutex_;
  mutable std::set<std::string, std::less<>> names_;

  mutable std::mutex listed_mutex_;  // getters may run on several threads at once
  mutable std::shared_ptr<const qsim::EncodingSet> listed_;
  mutable uint64_t listed_generation_ = 0;
};

namespace qsim::capi {

enum class SessionAccess { kRead, kWrite };

// guard() for a call on a session: also keeps the outcome for qsim_session_last_error,
// refuses a call on a session that is inside a call that changes it (kState: a callback
// calling back), and holds OpenBLAS at one thread while the call runs (runtime/blas.h).
template <typename Body>
qsim_status guard_session(const qsim_session* session, const char* function, SessionAccess access,
                          Body&& body) noexcept {
  bool entered = false;
  const qsim_status status = guard([&] {
    require_arg(session, function, "session");
    const bool was_busy =
        access == SessionAccess::kWrite ? session->busy.exchange(true) : session->busy.load();
    if (was_busy)
      fail(ErrorCode::kState,
           std::string(function) +
               ": the session is inside another call (a callback may not call its own session)");
    entered = access == SessionAccess::kWrite;  // before anything that may throw
    BlasSingleThreadScope one_blas_thread;
    body();
  });
  if (entered) session->busy.store(false);
  if (session != nullptr) session->record_error(status == QSIM_OK ? "" : last_error());
  return status;
}

// The dtype and shape a caller's tensor declares (data is not looked at).
Shape shape_from_c(const qsim_tensor& t, const char* what, DType* dtype);
// A view of a caller's tensor; checks dtype, rank and byte size against each other.
Tensor tensor_from_c(const qsim_tensor& t, const char* what);
void describe_to_c(DType dtype, const Shape& shape, qsim_tensor* out);
// The caller's inputs as views in model input order (bound by name when named, else by
// position); checks the count and that no input is given twice.
std::vector<Tensor> bind_inputs(const qsim_session& s, const qsim_tensor* inputs, size_t count);
// A malloc'ed copy for the caller, who frees it with qsim_free.
char* copy_to_c(const std::string& text);
// The caller's data reader as QuantSim's: each batch bound like qsim_run's inputs and of the
// dtypes the model declares (observers read a batch before the engine checks it). `function`
// names the calling API function in messages.
BatchReader batch_reader(const qsim_session& s, qsim_data_reader_fn reader, void* reader_data,
                         const char* function);
// The caller's progress callback as QuantSim's (empty for NULL); non-zero from it cancels.
ProgressFn progress_fn(qsim_progress_fn progress, void* progress_data);

}  // namespace qsim::capi
