// The AIMET quantsim config JSON parser (src/quant/quantsim_config.cpp), called directly: the
// C API reads the same text through qsim_options.config_json at qsim_create.
#include <cstdint>
#include <string>

#include "quant/quantsim_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    qsim::parse_quantsim_config(text, "fuzz.json");
  } catch (const qsim::Error&) {
    // Malformed input is reported as an Error: the expected outcome.
  }
  return 0;
}
