// The public structs that carry struct_size (qsim_options, qsim_export_options,
// qsim_encoding_info) and what qsim_options turns into inside.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "qsim/qsim.h"
#include "quant/quantsim.h"
#include "util/error.h"

namespace qsim::capi {

// Copies a caller's struct over `defaults` up to the caller's struct_size, so callers built
// against an older, smaller struct keep working: fields beyond it keep their defaults.
template <typename Struct>
Struct read_versioned(const Struct* caller, Struct defaults, const std::string& what,
                      const std::string& init_call) {
  if (caller == nullptr) return defaults;
  require(caller->struct_size >= sizeof(uint32_t) && caller->struct_size <= sizeof(Struct) * 4,
          ErrorCode::kInvalidArgument,
          what + ".struct_size is " + std::to_string(caller->struct_size) +
              "; initialise it with " + init_call);
  std::memcpy(&defaults, caller, std::min<size_t>(caller->struct_size, sizeof defaults));
  defaults.struct_size = sizeof defaults;
  return defaults;
}

// Writes `value` into a caller's struct of `struct_size` bytes (at most sizeof(Struct)).
template <typename Struct>
void write_versioned(Struct* out, uint32_t struct_size, Struct value, const std::string& what) {
  require(
      struct_size >= sizeof(uint32_t), ErrorCode::kInvalidArgument,
      what + ": struct_size is " + std::to_string(struct_size) + "; set it to the struct's size");
  value.struct_size = static_cast<uint32_t>(std::min<size_t>(struct_size, sizeof value));
  std::memcpy(out, &value, value.struct_size);
}

qsim_options default_options();
// The caller's options over the defaults, every field checked; kInvalidArgument names the
// field at fault.
qsim_options read_options(const qsim_options* options);
// The QuantSim settings the options ask for; reads and parses the configuration (kIo,
// kParse or kInvalidArgument naming the file and the key at fault).
QuantSimOptions quantsim_options(const qsim_options& options);

}  // namespace qsim::capi
