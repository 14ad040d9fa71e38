// Runs the reference runtime (tools/ort/run.js on npm onnxruntime-node) as a child process.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace qsim::tools {

// Runs `node tools/ort/run.js <args...>`; throws qsim::Error with its stderr on failure.
// Returns its stdout. With `cpu` (a qemu CPU model such as "Haswell"), node runs under
// `qemu-x86_64 -cpu <cpu>`, so ONNX Runtime picks the kernels of that CPU (--ort-cpu NAME).
std::string run_ort(const std::vector<std::string>& args, const std::string& cpu = "");

// True when qemu-x86_64 is on the PATH (needed by run_ort with a cpu).
bool qemu_available();

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
