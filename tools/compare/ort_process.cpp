#include "ort_process.h"

#include <asm/prctl.h>
#include <sys/syscall.h>
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

constexpr const char kCpuidMaskPrefix[] = "cpuid:";

// What goes before the program: "" for native runs, "qemu-x86_64 -cpu NAME " (qemu-user
// takes a path, so `program` must be one) or the CPUID mask's environment (cpuid_mask.c).
std::string cpu_prefix(const std::string& ort_cpu) {
  if (ort_cpu.empty()) return "";
  const std::string why_not = ort_cpu_unavailable(ort_cpu);
  require(why_not.empty(), ErrorCode::kIo,
          "ONNX Runtime cannot run as on CPU '" + ort_cpu + "': " + why_not);
  if (is_cpuid_mask(ort_cpu))
    return "LD_PRELOAD=" + shell_quote(QSIM_CPUID_MASK_LIBRARY) +
           " QSIM_CPUID_MASK=" + shell_quote(ort_cpu.substr(sizeof kCpuidMaskPrefix - 1)) + " ";
  // A CPUID mask this process may run under is not for the CPU qemu presents (qemu-user
  // cannot fault on CPUID): the emulated program runs without it.
  return "env -u LD_PRELOAD -u QSIM_CPUID_MASK qemu-x86_64 -cpu " + shell_quote(ort_cpu) + " ";
}

}  // namespace

bool is_cpuid_mask(const std::string& ort_cpu) {
  return ort_cpu.rfind(kCpuidMaskPrefix, 0) == 0;
}

std::string describe_ort_cpu(const std::string& ort_cpu) {
  if (ort_cpu.empty()) return "this CPU";
  if (is_cpuid_mask(ort_cpu))
    return "this CPU with CPUID masked to " + ort_cpu.substr(sizeof kCpuidMaskPrefix - 1);
  return "qemu -cpu " + ort_cpu;
}

std::string ort_cpu_unavailable(const std::string& ort_cpu) {
  if (ort_cpu.empty()) return "";
  if (!is_cpuid_mask(ort_cpu))
    return have_qemu() ? ""
                       : "qemu-x86_64 is not installed (Debian package qemu-user; apt-get install "
                         "qemu-user)";
  const std::string level = ort_cpu.substr(sizeof kCpuidMaskPrefix - 1);
  if (level != "avx2" && level != "sse41")
    return "'" + level + "' is not a CPUID mask level (cpuid:avx2 or cpuid:sse41)";
  // Turning CPUID faulting "off" changes nothing and fails only where it does not exist.
  if (::syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1UL) != 0)
    return "this CPU or kernel cannot fault on CPUID (arch_prctl ARCH_SET_CPUID), which the "
           "mask needs; use a qemu CPU name (Haswell, Nehalem) instead";
  return "";
}

std::string run_ort(const std::vector<std::string>& args, const std::string& ort_cpu) {
  std::string command =
      cpu_prefix(ort_cpu) +
      (ort_cpu.empty() || is_cpuid_mask(ort_cpu) ? "node " : "\"$(command -v node)\" ");
  command += shell_quote(std::string(QSIM_SOURCE_DIR) + "/tools/ort/run.js");
  for (const auto& a : args) {
    command += ' ';
    command += shell_quote(a);
  }
  return run_command(command, "ONNX Runtime reference on " + describe_ort_cpu(ort_cpu));
}

std::string ort_cpu_from_environment() {
  const char* cpu = std::getenv("QSIM_ORT_CPU");
  return cpu == nullptr ? "" : cpu;
}

std::string ort_arithmetic(const std::string& ort_cpu) {
  if (ort_cpu.empty()) return qsim_ort_cpu_arithmetic();
  const std::string what = "qsim_ort_cpu_path on " + describe_ort_cpu(ort_cpu);
  std::string out = run_command(cpu_prefix(ort_cpu) + shell_quote(QSIM_ORT_CPU_PATH_TOOL), what);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  require(out == "exact" || out == "ort-avx2", ErrorCode::kIo, what + " printed '" + out + "'");
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
