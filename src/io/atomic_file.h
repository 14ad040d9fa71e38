// Writes whole files so that readers see either the old file or the complete new one:
// data goes to a temporary name in the same folder, is flushed, and is renamed into place.
#pragma once

#include <string>

namespace qsim {

void write_file_atomically(const std::string& path, const std::string& contents);

// Writes all of `contents` to the open file `fd` (retrying short and interrupted writes) and
// flushes it to disk; kIo "cannot write '<path>': <reason>" on failure. `fd` stays open.
void write_and_sync(int fd, const std::string& contents, const std::string& path);

}  // namespace qsim
