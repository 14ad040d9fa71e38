#include <cstdlib>

#include "capi/guard.h"
#include "util/cpu_isa.h"

namespace qsim::capi {
namespace {

thread_local KeptMessage t_last_error;

#define QSIM_SAME(code, status) static_assert(static_cast<int>(ErrorCode::code) == status)
QSIM_SAME(kInvalidArgument, QSIM_ERR_INVALID_ARGUMENT);
QSIM_SAME(kIo, QSIM_ERR_IO);
QSIM_SAME(kParse, QSIM_ERR_PARSE);
QSIM_SAME(kUnsupported, QSIM_ERR_UNSUPPORTED);
QSIM_SAME(kShape, QSIM_ERR_SHAPE);
QSIM_SAME(kState, QSIM_ERR_STATE);
QSIM_SAME(kCancelled, QSIM_ERR_CANCELLED);
QSIM_SAME(kOutOfMemory, QSIM_ERR_OUT_OF_MEMORY);
QSIM_SAME(kBufferTooSmall, QSIM_ERR_BUFFER_TOO_SMALL);
QSIM_SAME(kNumeric, QSIM_ERR_NUMERIC);
QSIM_SAME(kInternal, QSIM_ERR_INTERNAL);
QSIM_SAME(kCallback, QSIM_ERR_CALLBACK);
QSIM_SAME(kIncomplete, QSIM_ERR_INCOMPLETE);
#undef QSIM_SAME

}  // namespace

void KeptMessage::set(const char* prefix, const char* message) noexcept {
  try {
    text_.assign(prefix);
    text_.append(message);
    fixed_ = nullptr;
  } catch (...) {
    text_.clear();
    fixed_ = "out of memory (the error message could not be kept)";
  }
}
const char* KeptMessage::get() const noexcept {
  return fixed_ != nullptr ? fixed_ : text_.c_str();
}

void set_last_error(const char* prefix, const char* message) noexcept {
  t_last_error.set(prefix, message);
}
void clear_last_error() noexcept {
  t_last_error.set("", "");
}
const char* last_error() noexcept {
  return t_last_error.get();
}
qsim_status status_of(ErrorCode code) {
  return static_cast<qsim_status>(code);
}

}  // namespace qsim::capi

extern "C" {

const char* qsim_version(void) {
  return QSIM_VERSION_STRING;
}

int32_t qsim_version_number(void) {
  return QSIM_VERSION_NUMBER;
}

qsim_status qsim_kernel_path(const char** out_name, const char** out_report) {
  return qsim::capi::guard([&] {
    qsim::capi::require_arg(out_name, "qsim_kernel_path", "out_name");
    *out_name = qsim::isa_name(qsim::active_isa());
    if (out_report != nullptr) {
      static const std::string report = qsim::isa_report();
      *out_report = report.c_str();
    }
    qsim::require_valid_isa_cap();
  });
}

const char* qsim_last_error(void) {
  return qsim::capi::last_error();
}

const char* qsim_status_name(qsim_status status) {
  switch (status) {
    case QSIM_OK:
      return "QSIM_OK";
    case QSIM_ERR_INVALID_ARGUMENT:
      return "QSIM_ERR_INVALID_ARGUMENT";
    case QSIM_ERR_IO:
      return "QSIM_ERR_IO";
    case QSIM_ERR_PARSE:
      return "QSIM_ERR_PARSE";
    case QSIM_ERR_UNSUPPORTED:
      return "QSIM_ERR_UNSUPPORTED";
    case QSIM_ERR_SHAPE:
      return "QSIM_ERR_SHAPE";
    case QSIM_ERR_STATE:
      return "QSIM_ERR_STATE";
    case QSIM_ERR_CANCELLED:
      return "QSIM_ERR_CANCELLED";
    case QSIM_ERR_OUT_OF_MEMORY:
      return "QSIM_ERR_OUT_OF_MEMORY";
    case QSIM_ERR_BUFFER_TOO_SMALL:
      return "QSIM_ERR_BUFFER_TOO_SMALL";
    case QSIM_ERR_NUMERIC:
      return "QSIM_ERR_NUMERIC";
    case QSIM_ERR_INTERNAL:
      return "QSIM_ERR_INTERNAL";
    case QSIM_ERR_CALLBACK:
      return "QSIM_ERR_CALLBACK";
    case QSIM_ERR_INCOMPLETE:
      return "QSIM_ERR_INCOMPLETE";
    case QSIM_STATUS_FORCE_INT32:
      break;
  }
  return "QSIM_ERR_UNKNOWN";
}

void qsim_free(void* pointer) {
  std::free(pointer);
}

}  // extern "C"
