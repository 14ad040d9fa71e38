#include <cstdio>

#include "cli/cli.h"

namespace qsim::cli {

int cmd_info(const std::vector<std::string>& args) {
  std::string model;
  bool json = false;
  for (const auto& a : args) {
    if (a == "--json")
      json = true;
    else if (!a.empty() && a[0] == '-')
      usage_error("info: unknown option '" + a + "'");
    else if (model.empty())
      model = a;
    else
      usage_error("info: more than one model given");
  }
  if (model.empty()) usage_error("info: no model given");
  char* text = nullptr;
  check(qsim_describe_model(model.c_str(), json ? QSIM_FORMAT_JSON : QSIM_FORMAT_TEXT, &text));
  std::fputs(text, stdout);
  qsim_free(text);
  return 0;
}

}  // namespace qsim::cli
