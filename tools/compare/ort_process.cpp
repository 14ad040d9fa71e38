#include "ort_process.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ort_cpu_path.h"
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

// Runs a shell command; its stdout, or kIo with `what` and its stderr when it fails.
std::string run_command(std::string command, const std::string& what) {
  std::string err_file =
      std::filesystem::temp_directory_path() / ("qsim-ort-err-" + std::to_string(::getpid()));
  command += " 2>" + shell_quote(err_file);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) fail(ErrorCode::kIo, "cannot start " + what);
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
  if (status != 0) fail(ErrorCode::kIo, what + " failed: " + err);
  return out;
}

// "qemu-x86_64 -cpu NAME " (with a trailing space), or "" for native runs.
std::string qemu_prefix(const std::string& qemu_cpu) {
  if (qemu_cpu.empty()) return "";
  require(have_qemu(), ErrorCode::kIo,
          "qemu-x86_64 is not installed (Debian package qemu-user), so ONNX Runtime cannot run "
          "as on CPU '" +
              qemu_cpu + "'");
  return "qemu-x86_64 -cpu " + shell_quote(qemu_cpu) + " ";
}

}  // namespace

std::string run_ort(const std::vector<std::string>& args, const std::string& qemu_cpu) {
  // qemu-user takes a path, not a command name.
  std::string command =
      qemu_cpu.empty() ? "node " : qemu_prefix(qemu_cpu) + "\"$(command -v node)\" ";
  command += shell_quote(std::string(QSIM_SOURCE_DIR) + "/tools/ort/run.js");
  for (const auto& a : args) {
    command += ' ';
    command += shell_quote(a);
  }
  return run_command(command, qemu_cpu.empty()
                                  ? "ONNX Runtime reference"
                                  : "ONNX Runtime reference under qemu -cpu " + qemu_cpu);
}

std::string ort_cpu_from_environment() {
  const char* cpu = std::getenv("QSIM_ORT_CPU");
  return cpu == nullptr ? "" : cpu;
}

std::string ort_arithmetic(const std::string& qemu_cpu) {
  if (qemu_cpu.empty()) return qsim_ort_cpu_arithmetic();
  std::string out = run_command(qemu_prefix(qemu_cpu) + shell_quote(QSIM_ORT_CPU_PATH_TOOL),
                                "qsim_ort_cpu_path under qemu -cpu " + qemu_cpu);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  require(out == "exact" || out == "ort-avx2", ErrorCode::kIo,
          "qsim_ort_cpu_path under qemu -cpu " + qemu_cpu + " printed '" + out + "'");
  return out;
}

bool have_qemu() {
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
