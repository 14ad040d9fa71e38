// Compares qsim's float runtime with ONNX Runtime on one ONNX model.
//
//   qsim_compare_ort MODEL [--input NAME=FILE.npy]... [--batch N] [--fmnist FIRST]
//                    [--threads N] [--tolerance 1e-4] [--work DIR] [--via-cli QSIM]
//
// Without --input, inputs are made: Fashion-MNIST test images from index FIRST (--fmnist, for
// [N,1,28,28] models) or seeded uniform [0,1) values; symbolic dimensions take --batch for
// the first axis and 1 elsewhere. Prints, per output, max |qsim - ort| / max |ort| and exits
// 1 when any exceeds the tolerance. With --via-cli, qsim's outputs come from running the
// `qsim run` command (path QSIM) rather than from the runtime in this process.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "fmnist_data.h"
#include "graph/onnx_import.h"
#include "io/npy.h"
#include "ort_process.h"
#include "runtime/engine.h"

namespace fs = std::filesystem;
using namespace qsim;

namespace {

struct Args {
  std::string model;
  std::vector<std::pair<std::string, std::string>> inputs;
  int64_t batch = 1;
  int64_t fmnist_first = -1;
  int threads = 1;
  double tolerance = 1e-4;
  std::string work;
  std::string via_cli;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail(ErrorCode::kInvalidArgument, s + " needs a value");
      return argv[++i];
    };
    if (s == "--input") {
      std::string spec = next();
      size_t eq = spec.find('=');
      if (eq == std::string::npos) fail(ErrorCode::kInvalidArgument, "--input needs NAME=FILE.npy");
      a.inputs.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
    } else if (s == "--batch")
      a.batch = std::stoll(next());
    else if (s == "--fmnist")
      a.fmnist_first = std::stoll(next());
    else if (s == "--threads")
      a.threads = std::stoi(next());
    else if (s == "--tolerance")
      a.tolerance = std::stod(next());
    else if (s == "--work")
      a.work = next();
    else if (s == "--via-cli")
      a.via_cli = next();
    else if (a.model.empty())
      a.model = s;
    else
      fail(ErrorCode::kInvalidArgument, "unexpected argument '" + s + "'");
  }
  if (a.model.empty()) fail(ErrorCode::kInvalidArgument, "usage: qsim_compare_ort MODEL [options]");
  return a;
}

Tensor make_input(const ValueInfo& v, const Args& a, std::mt19937& rng) {
  Shape shape;
  if (v.dims)
    for (size_t d = 0; d < v.dims->size(); ++d)
      shape.push_back((*v.dims)[d].value >= 0 ? (*v.dims)[d].value : (d == 0 ? a.batch : 1));
  if (a.fmnist_first >= 0)
    return tools::fmnist_test_images(a.fmnist_first, shape.empty() ? a.batch : shape[0]);
  Tensor t(v.dtype == DType::kUndefined ? DType::kFloat32 : v.dtype, shape);
  if (t.dtype() == DType::kFloat32) {
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = uniform(rng);
  }
  return t;
}

// max |a - b| / max |b| (b is the reference); NaN-aware.
double relative_difference(const Tensor& a, const Tensor& b, double* max_abs_diff,
                           double* max_abs_ref) {
  *max_abs_diff = 0;
  *max_abs_ref = 0;
  for (int64_t i = 0; i < b.size(); ++i) {
    double x = a.dtype() == DType::kFloat32 ? a.data<float>()[i] : static_cast<double>(a.int_at(i));
    double y = b.dtype() == DType::kFloat32 ? b.data<float>()[i] : static_cast<double>(b.int_at(i));
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    if (std::isnan(y)) continue;
    *max_abs_diff = std::max(*max_abs_diff, std::fabs(x - y));
    *max_abs_ref = std::max(*max_abs_ref, std::fabs(y));
  }
  return *max_abs_ref > 0 ? *max_abs_diff / *max_abs_ref : *max_abs_diff;
}

std::string safe_file_name(std::string name) {
  for (char& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return name;
}

std::vector<Tensor> run_in_process(const std::shared_ptr<Model>& model,
                                   const std::vector<Tensor>& inputs, int threads) {
  Engine engine(model, EngineOptions{threads});
  return engine.run(inputs);
}

// Runs `qsim run` with the same --input arguments ONNX Runtime got.
std::vector<Tensor> run_cli(const Args& a, const std::vector<std::string>& ort_args,
                            const fs::path& out_dir) {
  std::string command = a.via_cli + " run '" + a.model + "'";
  for (size_t i = 0; i + 1 < ort_args.size(); ++i)
    if (ort_args[i] == "--input") command += " --input '" + ort_args[i + 1] + "'";
  command += " --output '" + out_dir.string() + "' --threads " + std::to_string(a.threads);
  if (std::system(command.c_str()) != 0) fail(ErrorCode::kIo, "qsim run failed: " + command);
  Model model = load_onnx_file(a.model);
  std::vector<Tensor> outputs;
  for (const ValueInfo& v : model.graph.outputs)
    outputs.push_back(read_npy((out_dir / (safe_file_name(v.name) + ".npy")).string()));
  return outputs;
}

int compare(const Args& a) {
  auto model = std::make_shared<Model>(load_onnx_file(a.model));
  const tools::WorkFolder folder(a.work, "qsim-compare-");
  const fs::path& work = folder.path();
  std::mt19937 rng(1234);
  std::vector<Tensor> inputs;
  std::vector<std::string> ort_args = {"run", a.model};
  for (const ValueInfo& v : model->graph.inputs) {
    auto given = std::find_if(a.inputs.begin(), a.inputs.end(),
                              [&](const auto& p) { return p.first == v.name; });
    Tensor t = given != a.inputs.end() ? read_npy(given->second) : make_input(v, a, rng);
    std::string path = (work / (safe_file_name(v.name) + ".input.npy")).string();
    write_npy(path, t);
    ort_args.insert(ort_args.end(), {"--input", v.name + "=" + path});
    inputs.push_back(t);
  }
  ort_args.insert(ort_args.end(),
                  {"--output", (work / "ort").string(), "--threads", std::to_string(a.threads)});
  tools::run_ort(ort_args);
  std::vector<Tensor> outputs = a.via_cli.empty() ? run_in_process(model, inputs, a.threads)
                                                  : run_cli(a, ort_args, work / "qsim");
  int failures = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = model->graph.outputs[i].name;
    Tensor reference = read_npy((work / "ort" / (safe_file_name(name) + ".npy")).string());
    if (reference.shape() != outputs[i].shape()) {
      std::printf("output %s: shape %s, ONNX Runtime %s\n", name.c_str(),
                  shape_to_string(outputs[i].shape()).c_str(),
                  shape_to_string(reference.shape()).c_str());
      ++failures;
      continue;
    }
    double diff, ref;
    double rel = relative_difference(outputs[i], reference, &diff, &ref);
    bool ok = rel <= a.tolerance;
    failures += ok ? 0 : 1;
    std::printf(
        "output %s %s: max_abs_diff %.3g, max_abs %.3g, relative %.3g (%s, tolerance %.0e)\n",
        name.c_str(), shape_to_string(reference.shape()).c_str(), diff, ref, rel,
        ok ? "ok" : "MISMATCH", a.tolerance);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return compare(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qsim_compare_ort: %s\n", e.what());
    return 2;
  }
}
