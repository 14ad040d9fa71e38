// The one place exceptions become status codes: every exported function runs its body
// through guard(), which records the message for qsim_last_error() on this thread.
#pragma once

#include <new>
#include <string>

#include "qsim/qsim.h"
#include "util/error.h"

namespace qsim::capi {

// An error message kept for the caller (per thread, and per session). Keeping one never
// fails, or the noexcept guard would end the process: when copying the text runs out of
// memory, a fixed message stands in.
class KeptMessage {
 public:
  void set(const char* prefix, const char* message) noexcept;
  const char* get() const noexcept;

 private:
  std::string text_;
  const char* fixed_ = nullptr;
};

// `prefix` then `message`; never fails (a fixed message stands in when memory is exhausted).
void set_last_error(const char* prefix, const char* message) noexcept;
void clear_last_error() noexcept;
const char* last_error() noexcept;
qsim_status status_of(ErrorCode code);

template <typename Body>
qsim_status guard(Body&& body) noexcept {
  try {
    clear_last_error();
    body();
    return QSIM_OK;
  } catch (const Error& e) {
    set_last_error("", e.what());
    return status_of(e.code());
  } catch (const std::bad_alloc&) {
    set_last_error("", "out of memory");
    return QSIM_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error("internal error: ", e.what());
    return QSIM_ERR_INTERNAL;
  } catch (...) {
    set_last_error("", "internal error: unknown exception");
    return QSIM_ERR_INTERNAL;
  }
}

// Throws kInvalidArgument naming the parameter when `pointer` is NULL.
inline void require_arg(const void* pointer, const char* function, const char* parameter) {
  if (pointer == nullptr)
    fail(ErrorCode::kInvalidArgument, std::string(function) + ": " + parameter + " is NULL");
}

}  // namespace qsim::capi
