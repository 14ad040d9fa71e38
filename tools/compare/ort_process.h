// Runs the reference runtime (tools/ort/run.js on npm onnxruntime-node) as a child process.
#pragma once

#include <string>
#include <vector>

namespace qsim::tools {

// Runs `node tools/ort/run.js <args...>`; throws qsim::Error with its stderr on failure.
// Returns its stdout.
std::string run_ort(const std::vector<std::string>& args);

}  // namespace qsim::tools
