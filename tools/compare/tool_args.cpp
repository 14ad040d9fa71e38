#include "tool_args.h"

#include <cstdio>
#include <exception>

#include "util/error.h"

namespace qsim::tools {
namespace {

int64_t positive_number(const std::string& option, const std::string& text) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require(used == text.size() && used > 0 && value > 0, ErrorCode::kInvalidArgument,
          option + " needs a positive whole number, got '" + text + "'");
  return value;
}

struct Assign {
  const std::string& option;
  const std::string& text;
  void operator()(std::string* target) const { *target = text; }
  void operator()(int64_t* target) const { *target = positive_number(option, text); }
  void operator()(int* target) const {
    const int64_t value = positive_number(option, text);
    require(value <= INT32_MAX, ErrorCode::kInvalidArgument, option + " is too large");
    *target = static_cast<int>(value);
  }
};

}  // namespace

void parse_options(int argc, char** argv, const std::vector<Option>& options,
                   const std::string& usage, std::vector<std::string>* positional) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const Option* option = nullptr;
    for (const Option& o : options)
      if (arg == o.name) option = &o;
    if (option != nullptr) {
      require(i + 1 < argc, ErrorCode::kInvalidArgument, arg + " needs a value; usage: " + usage);
      std::visit(Assign{arg, argv[++i]}, option->target);
    } else if (positional != nullptr && arg.rfind("--", 0) != 0) {
      positional->push_back(arg);
    } else {
      fail(ErrorCode::kInvalidArgument, "unexpected argument '" + arg + "'; usage: " + usage);
    }
  }
}

int run_tool(const char* tool, const std::function<int()>& run) {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", tool, e.what());
    return 2;
  }
}

}  // namespace qsim::tools
