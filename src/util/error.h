// The exception type of qsim's core. Only src/capi catches it and turns it into a
// qsim_status; everything else lets it propagate.
#pragma once

#include <stdexcept>
#include <string>

namespace qsim {

// Mirrors qsim_status in the public header (kept in sync by a static_assert in capi/).
enum class ErrorCode {
  kInvalidArgument = 1,
  kIo = 2,
  kParse = 3,
  kUnsupported = 4,
  kShape = 5,
  kState = 6,
  kCancelled = 7,
  kOutOfMemory = 8,
  kBufferTooSmall = 9,
  kNumeric = 10,
  kInternal = 11,
  kCallback = 12,    // a caller's callback reported its own failure
  kIncomplete = 13,  // some outputs asked for were written, others were skipped
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) {
  throw Error(code, message);
}

// Checks an internal invariant or an input condition; throws kind `code` with `message`.
inline void require(bool condition, ErrorCode code, const std::string& message) {
  if (!condition) fail(code, message);
}

}  // namespace qsim
