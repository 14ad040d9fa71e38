// The shortest text that reads back as the same double (std::to_chars), for messages and
// reports.
#pragma once

#include <charconv>
#include <string>

namespace qsim {

inline std::string number_text(double value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  return std::string(text, end);
}

}  // namespace qsim
