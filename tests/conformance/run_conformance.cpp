// Runs ONNX's own backend node tests (Debian libonnx-testdata) through qsim's runtime.
//
//   onnx_conformance [--data DIR] [--op OP]... [--verbose]
//
// A test is in scope when its model uses at least one listed op (or an --op given).
// Each test ends as PASS, FAIL (wrong numbers, or an error from an accepted model) or SKIP
// (qsim rejected the model at load time; the reason is printed). Exits non-zero on FAIL.
//
// qsim plans with static shapes, so tests that feed shape-like values (Reshape's shape,
// Resize's scales, Slice's starts, ...) as run-time graph inputs are rejected at plan time.
// Those are run again with every input after the first (and an integer first input) frozen
// into initializers from the test's data; they count as PASS-STATIC when they then pass.
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
  enum Kind { kPass, kPassStatic, kFail, kSkip } kind;
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

std::vector<fs::path> data_sets(const fs::path& dir) {
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  return sets;
}

bool needs_static_inputs(const std::string& message) {
  return message.find("must be known when the model is planned") != std::string::npos;
}

// Runs every data set through `model`; `frozen` inputs (by position) are already initializers.
Outcome run_data_sets(const fs::path& dir, const std::shared_ptr<Model>& model, const std::set<size_t>& frozen) {
  std::unique_ptr<Engine> engine;
  try {
    engine = std::make_unique<Engine>(model, EngineOptions{1});
  } catch (const Error& e) {
    return {Outcome::kSkip, e.what()};
  }
  for (const auto& set : data_sets(dir)) {
    std::vector<Tensor> inputs, expected;
    try {
      auto files = sorted_files(set, "input_");
      for (size_t i = 0; i < files.size(); ++i)
        if (!frozen.count(i)) inputs.push_back(load_tensor_proto_file(files[i].string()));
      for (const auto& f : sorted_files(set, "output_")) expected.push_back(load_tensor_proto_file(f.string()));
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
      if (!diff.empty()) return {Outcome::kFail, set.filename().string() + ": " + diff};
    }
  }
  return {Outcome::kPass, ""};
}

// The test's model with shape-like inputs moved into initializers (single data set only).
Outcome run_with_static_inputs(const fs::path& dir) {
  auto sets = data_sets(dir);
  if (sets.size() != 1) return {Outcome::kSkip, "shape inputs vary across data sets"};
  std::ifstream in(dir / "model.onnx", std::ios::binary);
  onnx::ModelProto proto;
  if (!proto.ParseFromIstream(&in)) return {Outcome::kSkip, "unreadable model"};
  auto files = sorted_files(sets[0], "input_");
  auto* graph = proto.mutable_graph();
  std::set<size_t> frozen;
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
  for (int i = 0; i < graph->input_size() && static_cast<size_t>(i) < files.size(); ++i) {
    bool integer = graph->input(i).type().tensor_type().elem_type() == onnx::TensorProto::INT64;
    if (i == 0 && !integer) {
      *kept.Add() = graph->input(i);
      continue;
    }
    std::ifstream data(files[static_cast<size_t>(i)], std::ios::binary);
    onnx::TensorProto value;
    if (!value.ParseFromIstream(&data)) return {Outcome::kSkip, "unreadable test data"};
    value.set_name(graph->input(i).name());
    *graph->add_initializer() = value;
    frozen.insert(static_cast<size_t>(i));
  }
  for (int i = static_cast<int>(files.size()); i < graph->input_size(); ++i) *kept.Add() = graph->input(i);
  graph->mutable_input()->Swap(&kept);
  std::string bytes = proto.SerializeAsString();
  std::shared_ptr<Model> model;
  try {
    model = std::make_shared<Model>(load_onnx_memory(bytes.data(), bytes.size()));
  } catch (const Error& e) {
    return {Outcome::kSkip, e.what()};
  }
  Outcome o = run_data_sets(dir, model, frozen);
  if (o.kind == Outcome::kPass) o.kind = Outcome::kPassStatic;
  return o;
}

Outcome run_test(const fs::path& dir) {
  std::shared_ptr<Model> model;
  try {
    model = std::make_shared<Model>(load_onnx_file((dir / "model.onnx").string()));
  } catch (const Error& e) {
    return {Outcome::kSkip, e.what()};
  }
  Outcome o = run_data_sets(dir, model, {});
  if (o.kind == Outcome::kSkip && needs_static_inputs(o.detail)) return run_with_static_inputs(dir);
  return o;
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
  int passed = 0, passed_static = 0, failed = 0, skipped = 0;
  for (const auto& dir : tests) {
    std::set<std::string> ops = model_ops(dir / "model.onnx");
    if (std::none_of(ops.begin(), ops.end(), [&](const std::string& op) { return scope.count(op); }))
      continue;
    Outcome o = run_test(dir);
    const char* tags[] = {"PASS", "PASS-STATIC", "FAIL", "SKIP"};
    const char* tag = tags[o.kind];
    int* counters[] = {&passed, &passed_static, &failed, &skipped};
    ++*counters[o.kind];
    if (o.kind == Outcome::kPassStatic) ++passed;
    if (o.kind == Outcome::kFail || o.kind == Outcome::kSkip || verbose)
      std::printf("%s %s%s%s\n", tag, dir.filename().c_str(), o.detail.empty() ? "" : ": ", o.detail.c_str());
  }
  std::printf("(%d of the passed tests ran with shape-like inputs frozen into initializers)\n", passed_static);
  std::printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 ? 0 : 1;
}
