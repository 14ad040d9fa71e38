// The qsim command-line tool: a thin client of the C API (plus the .npy reader/writer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qsim/qsim.h"

namespace qsim::cli {

// Thrown for a failed command; main() prints "qsim: <message>" and exits with `exit_code`.
// The exit code of `qsim quantize` when some export formats were written and others skipped.
inline constexpr int kPartialExit = 3;

struct CommandError {
  std::string message;
  int exit_code = 1;
};

[[noreturn]] void usage_error(const std::string& message);
// Throws CommandError with qsim_last_error() when status is not QSIM_OK.
void check(qsim_status status);
// Parses a whole number from `min` to `max` for option `name`.
int64_t parse_count(const std::string& text, const std::string& name, int64_t min, int64_t max);
// Parses a whole number from 1 to 1024 (bit widths, threads, batch sizes) for option `name`.
inline int parse_int(const std::string& text, const std::string& name) {
  return static_cast<int>(parse_count(text, name, 1, 1024));
}

// Parses a number from 0 to 1 for option `name`.
double parse_fraction(const std::string& text, const std::string& name);

// Parses a calibration method name for option `name`.
qsim_calibration_method parse_method(const std::string& text, const std::string& name);

using Session = std::unique_ptr<qsim_session, decltype(&qsim_destroy)>;
Session open_session(const std::string& model, const qsim_options& options);

int cmd_info(const std::vector<std::string>& args);
int cmd_run(const std::vector<std::string>& args);
int cmd_quantize(const std::vector<std::string>& args);

}  // namespace qsim::cli
