#include "ort_process.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "util/error.h"

namespace qsim::tools {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += "'";
  return out;
}

}  // namespace

std::string run_ort(const std::vector<std::string>& args, const std::string& cpu) {
  std::string command =
      cpu.empty() ? "node " : "qemu-x86_64 -cpu " + shell_quote(cpu) + " \"$(command -v node)\" ";
  command += shell_quote(std::string(QSIM_SOURCE_DIR) + "/tools/ort/run.js");
  for (const auto& a : args) {
    command += ' ';
    command += shell_quote(a);
  }
  std::string err_file =
      std::filesystem::temp_directory_path() / ("qsim-ort-err-" + std::to_string(::getpid()));
  command += " 2>" + shell_quote(err_file);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) fail(ErrorCode::kIo, "cannot start node");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  std::string err;
  if (FILE* f = std::fopen(err_file.c_str(), "r")) {
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) err.append(buf.data(), n);
    std::fclose(f);
  }
  std::filesystem::remove(err_file);
  if (status != 0) fail(ErrorCode::kIo, "ONNX Runtime reference failed: " + err);
  return out;
}

bool qemu_available() {
  return std::system("command -v qemu-x86_64 >/dev/null 2>&1") == 0;
}

WorkFolder::WorkFolder(const std::string& given, const std::string& temporary_prefix)
    : path_(given) {
  if (path_.empty()) {
    path_ =
        std::filesystem::temp_directory_path() / (temporary_prefix + std::to_string(::getpid()));
    temporary_ = true;
  }
  std::filesystem::create_directories(path_);
}

WorkFolder::~WorkFolder() {
  std::error_code ignored;
  if (temporary_) std::filesystem::remove_all(path_, ignored);
}

}  // namespace qsim::tools
