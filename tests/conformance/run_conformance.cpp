// Runs ONNX's own backend node tests (Debian libonnx-testdata) through qsim's runtime.
//
//   onnx_conformance [--data DIR] [--op OP]... [--verbose]
//
// A test is in scope when its model uses at least one listed op (or an --op given).
// Each test ends as PASS, FAIL (wrong numbers, or an error from an accepted model) or SKIP
// (qsim rejected the model at load time; the reason is printed). Exits non-zero on FAIL.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "graph/onnx_import.h"
#include "listed_ops.h"
#include "runtime/engine.h"

namespace fs = std::filesystem;
using namespace qsim;

namespace {

struct Outcome {
  enum Kind { kPass, kFail, kSkip } kind;
  std::string detail;
};

// ONNX's backend test default tolerances.
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

std::string compare(const Tensor& expected, const Tensor& actual, const std::string& name) {
  if (expected.dtype() != actual.dtype())
    return name + ": dtype " + dtype_name(actual.dtype()) + ", expected " + dtype_name(expected.dtype());
  if (expected.shape() != actual.shape())
    return name + ": shape " + shape_to_string(actual.shape()) + ", expected " +
           shape_to_string(expected.shape());
  for (int64_t i = 0; i < expected.size(); ++i) {
    bool ok;
    double e, a;
    if (expected.dtype() == DType::kFloat32) {
      e = expected.data<float>()[i];
      a = actual.data<float>()[i];
      ok = (std::isnan(e) && std::isnan(a)) || e == a || std::fabs(a - e) <= kAtol + kRtol * std::fabs(e);
    } else {
      e = static_cast<double>(expected.int_at(i));
      a = static_cast<double>(actual.int_at(i));
      ok = e == a;
    }
    if (!ok) {
      char buf[160];
      std::snprintf(buf, sizeof buf, ": element %lld is %.9g, expected %.9g", static_cast<long long>(i), a, e);
      return name + buf;
    }
  }
  return "";
}

std::set<std::string> model_ops(const fs::path& model_path) {
  std::ifstream in(model_path, std::ios::binary);
  onnx::ModelProto proto;
  std::set<std::string> ops;
  if (proto.ParseFromIstream(&in))
    for (const auto& n : proto.graph().node()) ops.insert(n.op_type());
  return ops;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) files.push_back(e.path());
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    auto index = [](const fs::path& p) {
      std::string s = p.stem().string();
      return std::stoi(s.substr(s.find('_') + 1));
    };
    return index(a) < index(b);
  });
  return files;
}

Outcome run_test(const fs::path& dir) {
  std::shared_ptr<Model> model;
  std::unique_ptr<Engine> engine;
  try {
    model = std::make_shared<Model>(load_onnx_file((dir / "model.onnx").string()));
    engine = std::make_unique<Engine>(model, EngineOptions{1});
  } catch (const Error& e) {
    return {Outcome::kSkip, e.what()};
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    std::vector<Tensor> inputs;
    std::vector<Tensor> expected;
    try {
      for (const auto& f : sorted_files(e.path(), "input_")) inputs.push_back(load_tensor_proto_file(f.string()));
      for (const auto& f : sorted_files(e.path(), "output_")) expected.push_back(load_tensor_proto_file(f.string()));
    } catch (const Error& err) {
      return {Outcome::kSkip, std::string("test data: ") + err.what()};
    }
    // Tests may feed fewer inputs than declared when trailing ones are initializers.
    if (inputs.size() > model->graph.inputs.size()) inputs.resize(model->graph.inputs.size());
    std::vector<Tensor> actual;
    try {
      actual = engine->run(inputs);
    } catch (const Error& err) {
      bool rejected = err.code() == ErrorCode::kUnsupported;
      return {rejected ? Outcome::kSkip : Outcome::kFail, err.what()};
    }
    if (actual.size() < expected.size()) return {Outcome::kFail, "too few outputs"};
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string diff = compare(expected[i], actual[i], model->graph.outputs[i].name);
      if (!diff.empty()) return {Outcome::kFail, e.path().filename().string() + ": " + diff};
    }
  }
  return {Outcome::kPass, ""};
}

}  // namespace

int main(int argc, char** argv) {
  fs::path data = "/usr/share/libonnx-testdata/data/node";
  std::set<std::string> scope;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) data = argv[++i];
    else if (a == "--op" && i + 1 < argc) scope.insert(argv[++i]);
    else if (a == "--verbose") verbose = true;
    else {
      std::fprintf(stderr, "usage: onnx_conformance [--data DIR] [--op OP]... [--verbose]\n");
      return 2;
    }
  }
  if (scope.empty()) scope = conformance::listed_ops();
  if (!fs::is_directory(data)) {
    std::fprintf(stderr, "onnx_conformance: %s not found (install libonnx-testdata)\n", data.c_str());
    return 2;
  }
  std::vector<fs::path> tests;
  for (const auto& e : fs::directory_iterator(data))
    if (e.is_directory()) tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& dir : tests) {
    std::set<std::string> ops = model_ops(dir / "model.onnx");
    if (std::none_of(ops.begin(), ops.end(), [&](const std::string& op) { return scope.count(op); }))
      continue;
    Outcome o = run_test(dir);
    const char* tag = o.kind == Outcome::kPass ? "PASS" : o.kind == Outcome::kFail ? "FAIL" : "SKIP";
    (o.kind == Outcome::kPass ? passed : o.kind == Outcome::kFail ? failed : skipped)++;
    if (o.kind != Outcome::kPass || verbose)
      std::printf("%s %s%s%s\n", tag, dir.filename().c_str(), o.detail.empty() ? "" : ": ", o.detail.c_str());
  }
  std::printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 ? 0 : 1;
}
