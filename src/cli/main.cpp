#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "cli/cli.h"
#include "util/error.h"

namespace qsim::cli {

const char kUsage[] =
    "usage: qsim <command> [options]\n"
    "  qsim info MODEL [--json]\n"
    "      inputs, outputs, op counts, parameter count and unsupported ops of an ONNX model\n"
    "  qsim run MODEL --input [NAME=]FILE.npy ... --output DIR [--threads N]\n"
    "           [--encodings FILE [--config FILE] [--emulate exact|ort-avx2]]\n"
    "      runs the model (with --encodings: the quantization simulation with those\n"
    "      encodings); writes one .npy per output into DIR\n"
    "      --emulate ort-avx2 reproduces ONNX Runtime's x86 integer kernels on CPUs without\n"
    "      VNNI, whose u8 x s8 pair sums saturate to int16 (default exact: exact sums)\n"
    "  qsim quantize MODEL --calib CALIB.npy [--out DIR] [--config FILE] [--weight-bits N]\n"
    "           [--act-bits N] [--per-channel] [--calib-method NAME] [--weight-method NAME]\n"
    "           [--batch-size N] [--threads N] [--exclude-nan] [--target NAME]\n"
    "           [--cle [--cle-steps N] [--cle-keep-relu6] [--cle-no-hba] [--cle-include-bias]]\n"
    "           [--smooth-quant ALPHA] (or --smoothquant ALPHA)\n"
    "           [--adaround | --adaquant | --bias-correction | --bias-correction-analytical]\n"
    "           [--adaround-iterations N]\n"
    "           [--adaround-samples N] [--seed N] [--memory-budget MB]\n"
    "           [--qdq-16bit microsoft|opset21]\n"
    "      calibrates on CALIB.npy ([N, ...] samples of the model's single input) and\n"
    "      writes encodings (FlatBuffers, AIMET JSON 0.6.1 and 1.0.0), the model with\n"
    "      weights on their grid and the QDQ model into DIR (default: .); a format that\n"
    "      cannot be built is skipped with a warning saying why, the others are written,\n"
    "      and the exit status is 3\n"
    "      --act-bits 16 (W8A16, W16A16): the QDQ model's 16-bit Q/DQ are ONNX Runtime's\n"
    "      com.microsoft ops, or standard ones at opset 21 with --qdq-16bit opset21\n"
    "      --cle equalizes the weight ranges of consecutive layers after BN folding (a Clip\n"
    "      0..6 between them becomes Relu unless --cle-keep-relu6; passes until converged\n"
    "      unless --cle-steps; then high-bias absorption unless --cle-no-hba; with\n"
    "      --cle-include-bias the first layer's bias counts in its channel ranges;\n"
    "      docs/EQUALIZATION.md)\n"
    "      --smooth-quant ALPHA migrates Gemm/MatMul input outliers into the weights\n"
    "      (SmoothQuant, alpha in [0, 1]) after BN folding and CLE, measured on CALIB.npy\n"
    "      --bias-correction then corrects each layer's bias for the mean shift quantization\n"
    "      gives its outputs on the same samples (1024 unless --adaround-samples); with\n"
    "      --bias-correction-analytical, layers fed by a folded BatchNormalization (through\n"
    "      Relu or Clip) take it from that BN's statistics instead\n"
    "      --adaround / --adaquant then optimize the weights' rounding / values on the same\n"
    "      samples (default 10000 / 1000 iterations per layer, 1024 samples, seed 0, 512 MB\n"
    "      of cached samples in memory, the rest in a temporary file)\n"
    "      methods: minmax, tf_enhanced (activation default), percentile, entropy, mse, pow2\n"
    "      targets: exact (default: exact integer sums, as ONNX Runtime with VNNI, SSE4.1 or\n"
    "      on ARM, QNN/SNPE), ort-avx2 (ONNX Runtime's x86 kernels without VNNI: Conv, Gemm\n"
    "      and MatMul weights on grids whose int16 pair sums cannot saturate; docs/TARGETS.md)\n"
    "  qsim --version\n";

void usage_error(const std::string& message) {
  throw CommandError{message + " (see qsim --help)", 2};
}

void check(qsim_status status) {
  if (status != QSIM_OK) throw CommandError{qsim_last_error(), 1};
}

int64_t parse_count(const std::string& text, const std::string& name, int64_t min, int64_t max) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < min || value > max)
    usage_error(name + " needs a whole number from " + std::to_string(min) + " to " +
                std::to_string(max) + ", got '" + text + "'");
  return value;
}

double parse_fraction(const std::string& text, const std::string& name) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !(value >= 0.0 && value <= 1.0))
    usage_error(name + " needs a number from 0 to 1, got '" + text + "'");
  return value;
}

qsim_calibration_method parse_method(const std::string& text, const std::string& name) {
  qsim_calibration_method method;
  if (qsim_calibration_method_from_name(text.c_str(), &method) != QSIM_OK)
    usage_error(name + ": " + qsim_last_error());
  return method;
}

Session open_session(const std::string& model, const qsim_options& options) {
  qsim_session* raw = nullptr;
  check(qsim_create(model.c_str(), &options, &raw));
  return Session(raw, qsim_destroy);
}

}  // namespace qsim::cli

namespace {

// A cap of QSIM_MAX_ISA above what the CPU has is not an error (the CPU's best path runs), but
// whoever set it should know; an unknown value fails the command when it makes a session.
void warn_about_kernel_path() {
  const char* path = nullptr;
  const char* report = nullptr;
  const char* cap = std::getenv("QSIM_MAX_ISA");
  if (qsim_kernel_path(&path, &report) == QSIM_OK && cap != nullptr && *cap != '\0' &&
      std::strcmp(cap, path) != 0)
    std::fprintf(stderr, "qsim: warning: kernels: %s\n", report);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qsim::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
      std::fputs(kUsage, args.empty() ? stderr : stdout);
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
      std::printf("qsim %s\n", qsim_version());
      const char* path = nullptr;
      const char* report = nullptr;
      const qsim_status status = qsim_kernel_path(&path, &report);
      std::printf("kernels: %s\n", report);
      return status == QSIM_OK ? 0 : 1;
    }
    warn_about_kernel_path();
    std::string command = args[0];
    args.erase(args.begin());
    if (command == "info") return cmd_info(args);
    if (command == "run") return cmd_run(args);
    if (command == "quantize") return cmd_quantize(args);
    usage_error("unknown command '" + command + "'");
  } catch (const CommandError& e) {
    std::fprintf(stderr, "qsim: %s\n", e.message.c_str());
    return e.exit_code;
  } catch (const qsim::Error& e) {
    std::fprintf(stderr, "qsim: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qsim: internal error: %s\n", e.what());
    return 1;
  }
}
