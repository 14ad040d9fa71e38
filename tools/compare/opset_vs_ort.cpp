// qsim's opset upgrade (graph/opset_upgrade.h) against ONNX Runtime: each model runs through
// ONNX Runtime as it is and after qsim raised its opset (written with qsim's ONNX writer), and
// the outputs must agree.
//
//   qsim_opset_vs_ort [--target 13] [--target 21] [--tolerance 1e-6] [--work DIR] PATH...
//
// PATH is a model CASE.onnx whose single input comes from CASE.npy (tests/data/opset, written by
// tools/make_opset_models.py), or an ONNX node-test folder (model.onnx, test_data_set_0/
// input_*.pb), e.g. Debian libonnx-testdata's. Prints one line per model and target; exits 1
// when any output differs by more than the tolerance (absolute, integers exactly), 2 on error.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "graph/onnx_export.h"
#include "graph/onnx_import.h"
#include "graph/opset_upgrade.h"
#include "io/npy.h"
#include "ort_process.h"
#include "runtime/engine.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace qsim;

namespace {

struct Args {
  std::vector<int64_t> targets;
  double tolerance = 1e-6;
  std::string work;
  std::vector<std::string> paths;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(ErrorCode::kInvalidArgument, arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--target")
      a.targets.push_back(std::stoll(value()));
    else if (arg == "--tolerance")
      a.tolerance = std::stod(value());
    else if (arg == "--work")
      a.work = value();
    else
      a.paths.push_back(arg);
  }
  if (a.targets.empty()) a.targets = {13, 21};
  if (a.paths.empty())
    fail(ErrorCode::kInvalidArgument,
         "usage: qsim_opset_vs_ort [--target N]... [--tolerance T] [--work DIR] PATH...");
  return a;
}

std::string safe_file_name(std::string name) {
  for (char& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return name;
}

struct Case {
  std::string name;
  std::string model_path;
  std::vector<std::pair<std::string, std::string>> inputs;  // graph input -> .npy
};

// A model file with CASE.npy for its one input, or a node-test folder whose input_*.pb become
// .npy files in `work`.
Case make_case(const fs::path& path, const fs::path& work) {
  Case c;
  if (fs::is_directory(path)) {
    c.name = path.filename().string();
    c.model_path = (path / "model.onnx").string();
    const Model model = load_onnx_file(c.model_path);
    for (size_t i = 0; i < model.graph.inputs.size(); ++i) {
      const fs::path pb = path / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb");
      const std::string npy = (work / (c.name + ".input_" + std::to_string(i) + ".npy")).string();
      write_npy(npy, load_tensor_proto_file(pb.string()));
      c.inputs.emplace_back(model.graph.inputs[i].name, npy);
    }
    return c;
  }
  c.name = path.stem().string();
  c.model_path = path.string();
  c.inputs.emplace_back("x", fs::path(path).replace_extension(".npy").string());
  return c;
}

// Runs ONNX Runtime on `model_path`; returns its outputs in the graph's order.
std::vector<Tensor> run_ort(const std::string& model_path, const Model& model, const Case& c,
                            const fs::path& out_dir) {
  std::vector<std::string> args = {"run", model_path};
  for (const auto& [name, npy] : c.inputs) args.insert(args.end(), {"--input", name + "=" + npy});
  args.insert(args.end(), {"--output", out_dir.string()});
  tools::run_ort(args);
  std::vector<Tensor> outputs;
  for (const ValueInfo& v : model.graph.outputs)
    outputs.push_back(read_npy((out_dir / (safe_file_name(v.name) + ".npy")).string()));
  return outputs;
}

// The largest |a - b| over the outputs, or infinity for a shape or type mismatch.
double max_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0.0;
  for (size_t o = 0; o < a.size(); ++o) {
    if (a[o].shape() != b[o].shape() || a[o].dtype() != b[o].dtype()) return INFINITY;
    for (int64_t i = 0; i < a[o].size(); ++i) {
      const double x = a[o].dtype() == DType::kFloat32 ? a[o].data<float>()[i] : a[o].int_at(i);
      const double y = b[o].dtype() == DType::kFloat32 ? b[o].data<float>()[i] : b[o].int_at(i);
      if (std::isnan(x) != std::isnan(y)) return INFINITY;
      if (!std::isnan(x)) worst = std::max(worst, std::abs(x - y));
    }
  }
  return worst;
}

// qsim's own run of the original model against ONNX Runtime's (1e-5): the kernels read the old
// forms. Returns 1 on a mismatch; a model qsim has no kernel for (Upsample, Dropout, TopK, ...)
// is reported and not counted.
int qsim_vs_ort(const Model& model, const Case& c, const std::vector<Tensor>& ort) {
  constexpr double kTolerance = 1e-5;
  std::vector<Tensor> inputs;
  for (const auto& input : c.inputs) inputs.push_back(read_npy(input.second));
  std::string outcome;
  int failures = 0;
  try {
    Engine engine(std::make_shared<const Model>(model), EngineOptions{1});
    const double diff = max_difference(engine.run(inputs), ort);
    failures = diff <= kTolerance ? 0 : 1;
    char line[96];
    std::snprintf(line, sizeof line, "qsim vs ONNX Runtime max |diff| %.3g: %s", diff,
                  failures == 0 ? "ok" : "MISMATCH");
    outcome = line;
  } catch (const Error& e) {
    outcome = std::string("qsim does not run it: ") + e.what();
  }
  std::printf("%-50s opset %2lld        %s\n", c.name.c_str(), static_cast<long long>(model.opset),
              outcome.c_str());
  return failures;
}

// 0 when every target agrees, 1 otherwise.
int compare_case(const Case& c, const Args& a, const fs::path& work) {
  const Model model = load_onnx_file(c.model_path);
  const fs::path base = work / c.name;
  fs::create_directories(base);
  const std::vector<Tensor> before = run_ort(c.model_path, model, c, base / "original");
  int failures = qsim_vs_ort(model, c, before);
  for (const int64_t target : a.targets) {
    Model upgraded = model;
    std::string outcome;
    try {
      const OpsetUpgradeReport report = upgrade_opset(upgraded, target);
      const std::string path = (base / ("opset" + std::to_string(target) + ".onnx")).string();
      save_onnx_file(upgraded, path);
      const std::vector<Tensor> after =
          run_ort(path, upgraded, c, base / ("opset" + std::to_string(target)));
      const double diff = max_difference(before, after);
      const bool ok = diff <= a.tolerance;
      failures += ok ? 0 : 1;
      char line[128];
      std::snprintf(line, sizeof line, "%zu rewritten, max |diff| %.3g: %s",
                    report.rewritten.size(), diff, ok ? "ok" : "MISMATCH");
      outcome = line;
    } catch (const Error& e) {
      // A refusal is a result (the message names the node); it is not an agreement.
      outcome = std::string("refused: ") + e.what();
      ++failures;
    }
    std::printf("%-50s opset %2lld -> %2lld  %s\n", c.name.c_str(),
                static_cast<long long>(model.opset), static_cast<long long>(target),
                outcome.c_str());
  }
  return failures;
}

int run(const Args& a) {
  const tools::WorkFolder folder(a.work, "qsim-opset-vs-ort-");
  int failures = 0;
  for (const std::string& path : a.paths) {
    const Case c = make_case(path, folder.path());
    failures += compare_case(c, a, folder.path());
  }
  std::printf("opset upgrade vs ONNX Runtime: %zu model(s), %d mismatch(es) or refusal(s)\n",
              a.paths.size(), failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qsim_opset_vs_ort: %s\n", e.what());
    return 2;
  }
}
