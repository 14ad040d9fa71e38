// Minimal JSON text helpers for the files and descriptions qsim writes.
#pragma once

#include <string>

namespace qsim {

// `text` as a quoted JSON string with the required escapes.
std::string json_quote(const std::string& text);
// A float as the shortest text that reads back to the same float ("nan"/"inf" are not
// JSON: they throw kNumeric).
std::string json_number(double value);

}  // namespace qsim
