// Command lines and main() of the comparison tools (qsim_accuracy_table, qsim_adaround_table,
// qsim_sim_vs_ort): one option parser and one way to report errors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace qsim::tools {

// An option taking one value: text, or a whole number that must be positive.
struct Option {
  const char* name;  // "--calib"
  std::variant<std::string*, int64_t*, int*> target;
};

// Sets the targets of the options in argv; other arguments go to `positional` when it is
// given. kInvalidArgument naming the argument (and showing `usage`) for an unknown option, a
// missing or malformed value, a number that is not positive, or an unwanted argument.
void parse_options(int argc, char** argv, const std::vector<Option>& options,
                   const std::string& usage, std::vector<std::string>* positional = nullptr);

// main()'s body: returns run()'s exit status, or prints "<tool>: <message>" and returns 2
// when it throws.
int run_tool(const char* tool, const std::function<int()>& run);

}  // namespace qsim::tools
