// Writes whole files so that readers see either the old file or the complete new one:
// data goes to a temporary name in the same folder, is flushed, and is renamed into place.
#pragma once

#include <string>

namespace qsim {

void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace qsim
