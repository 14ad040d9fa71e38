// Runs the reference runtime (tools/ort/run.js on npm onnxruntime-node) as a child process.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace qsim::tools {

// Runs `node tools/ort/run.js <args...>`; throws qsim::Error with its stderr on failure.
// Returns its stdout. With a `qemu_cpu` (say "Haswell" or "Nehalem"), node runs under
// `qemu-x86_64 -cpu <qemu_cpu>`, so ONNX Runtime takes the kernels of that CPU (qemu-user
// cannot present AVX-512).
std::string run_ort(const std::vector<std::string>& args, const std::string& qemu_cpu = "");

// The qemu CPU ONNX Runtime runs under when none is given explicitly: the environment
// variable QSIM_ORT_CPU, or "" (native) when it is unset or empty.
std::string ort_cpu_from_environment();

// The integer arithmetic of the kernels ONNX Runtime takes on this CPU (qemu_cpu empty) or on
// the one `qemu-x86_64 -cpu <qemu_cpu>` presents, from its CPUID (ort_cpu_path.h): "exact"
// or "ort-avx2". kIo naming the command when qemu-x86_64 cannot run.
std::string ort_arithmetic(const std::string& qemu_cpu);

// True when qemu-x86_64 is on the PATH.
bool have_qemu();

// The folder for the files exchanged with ONNX Runtime: the one given, kept, or when none is
// given a temporary one named `temporary_prefix` + the process id, removed at the end.
class WorkFolder {
 public:
  WorkFolder(const std::string& given, const std::string& temporary_prefix);
  ~WorkFolder();
  WorkFolder(const WorkFolder&) = delete;
  WorkFolder& operator=(const WorkFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool temporary_ = false;
};

}  // namespace qsim::tools
