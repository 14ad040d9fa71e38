// Per-process names under the temporary folder: ctest runs the core tests once per kernel
// path, in parallel, and two processes sharing a fixed name remove each other's files.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

// "name.ext" -> <tmp>/name-<pid>.ext
inline std::filesystem::path test_temp_path(const std::string& name) {
  const std::filesystem::path given(name);
  return std::filesystem::temp_directory_path() /
         (given.stem().string() + "-" + std::to_string(static_cast<long>(::getpid())) +
          given.extension().string());
}
