// Whole-file reads for the formats that parse a file from memory (.npy, encodings, JSON).
#pragma once

#include <string>

namespace qsim {

// The bytes of the file at `path`; kIo naming it when it cannot be opened.
std::string read_file_bytes(const std::string& path);

}  // namespace qsim
