// Runs the reference runtime (tools/ort/run.js on npm onnxruntime-node) as a child process.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace qsim::tools {

// Where ONNX Runtime runs, as a string `ort_cpu` (the --ort-cpu options and the environment
// variable QSIM_ORT_CPU): "" runs it natively; a qemu CPU name ("Haswell": its AVX2 kernels,
// "Nehalem": its SSE4.1 kernels) under `qemu-x86_64 -cpu NAME`, which works on any x86-64 CPU
// but at emulation speed (qemu-user cannot present AVX-512); "cpuid:avx2" or "cpuid:sse41"
// natively with CPUID masked to that level (tools/cpuid_mask), at full speed, where the CPU
// and kernel can fault on CPUID (Intel since Ivy Bridge, AMD since Zen 4, KVM guests).

// Runs `node tools/ort/run.js <args...>` on `ort_cpu`; throws qsim::Error with its stderr on
// failure. Returns its stdout.
std::string run_ort(const std::vector<std::string>& args, const std::string& ort_cpu = "");

// QSIM_ORT_CPU, or "" (native) when it is unset or empty.
std::string ort_cpu_from_environment();

// Whether `ort_cpu` names a CPUID mask ("cpuid:avx2"), a native run, rather than a qemu CPU.
bool is_cpuid_mask(const std::string& ort_cpu);

// "this CPU", "qemu -cpu Haswell", "this CPU with CPUID masked to avx2".
std::string describe_ort_cpu(const std::string& ort_cpu);

// Why ONNX Runtime cannot run on `ort_cpu` here (qemu-x86_64 missing, no CPUID faulting, an
// unknown mask level), or "" when it can.
std::string ort_cpu_unavailable(const std::string& ort_cpu);

// The integer arithmetic of the kernels ONNX Runtime takes on `ort_cpu`, from the CPUID it
// sees there (ort_cpu_path.h): "exact" or "ort-avx2". kIo naming the command when it cannot
// run.
std::string ort_arithmetic(const std::string& ort_cpu);

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
