// qsim_describe_model: what `qsim info` prints. Works on models with unsupported ops, so it
// reads the graph without building an engine.
#include <sstream>

#include "capi/guard.h"
#include "capi/session.h"
#include "graph/onnx_import.h"
#include "runtime/engine.h"
#include "util/json.h"

using namespace qsim;

namespace {

std::string dims_text(const ValueInfo& v) {
  if (!v.dims) return "unknown";
  std::string s = "[";
  for (size_t i = 0; i < v.dims->size(); ++i) {
    const Dim& d = (*v.dims)[i];
    s += (i ? "," : "") +
         (d.value >= 0 ? std::to_string(d.value) : (d.param.empty() ? "?" : d.param));
  }
  return s + "]";
}

std::string type_text(const ValueInfo& v) {
  return v.dtype != DType::kUndefined ? dtype_name(v.dtype) : onnx_type_name(v.onnx_type);
}

std::string describe_text(const Model& m, const std::map<std::string, std::string>& unsupported) {
  std::ostringstream out;
  out << "model: " << m.source_path << "\n";
  out << "producer: " << m.producer_name << " " << m.producer_version << "\n";
  out << "ir_version: " << m.ir_version << ", opset: " << m.opset << "\n";
  for (const auto& v : m.graph.inputs)
    out << "input: " << v.name << " " << type_text(v) << dims_text(v) << "\n";
  for (const auto& v : m.graph.outputs)
    out << "output: " << v.name << " " << type_text(v) << dims_text(v) << "\n";
  out << "nodes: " << m.graph.nodes.size() << "\n";
  out << "parameters: " << m.parameter_count() << "\n";
  out << "ops:\n";
  for (const auto& [op, count] : m.op_counts()) out << "  " << op << ": " << count << "\n";
  out << "unsupported ops:" << (unsupported.empty() ? " none" : "") << "\n";
  for (const auto& [op, node] : unsupported)
    out << "  " << op << " (first at node '" << node << "')\n";
  return out.str();
}

std::string io_json(const std::vector<ValueInfo>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    const ValueInfo& v = values[i];
    s += std::string(i ? ", " : "") + "{\"name\": " + json_quote(v.name) +
         ", \"dtype\": " + json_quote(type_text(v)) + ", \"shape\": ";
    if (!v.dims) {
      s += "null}";
      continue;
    }
    s += "[";
    for (size_t d = 0; d < v.dims->size(); ++d) {
      const Dim& dim = (*v.dims)[d];
      s += (d ? ", " : "") + (dim.value >= 0 ? std::to_string(dim.value) : json_quote(dim.param));
    }
    s += "]}";
  }
  return s + "]";
}

std::string describe_json(const Model& m, const std::map<std::string, std::string>& unsupported) {
  std::ostringstream out;
  out << "{\"model\": " << json_quote(m.source_path)
      << ", \"producer\": " << json_quote(m.producer_name) << ", \"ir_version\": " << m.ir_version
      << ", \"opset\": " << m.opset << ",\n \"inputs\": " << io_json(m.graph.inputs)
      << ",\n \"outputs\": " << io_json(m.graph.outputs)
      << ",\n \"nodes\": " << m.graph.nodes.size() << ", \"parameters\": " << m.parameter_count()
      << ",\n \"ops\": {";
  bool first = true;
  for (const auto& [op, count] : m.op_counts()) {
    out << (first ? "" : ", ") << json_quote(op) << ": " << count;
    first = false;
  }
  out << "},\n \"unsupported_ops\": {";
  first = true;
  for (const auto& [op, node] : unsupported) {
    out << (first ? "" : ", ") << json_quote(op) << ": " << json_quote(node);
    first = false;
  }
  out << "}}\n";
  return out.str();
}

}  // namespace

extern "C" qsim_status qsim_describe_model(const char* model_path, qsim_text_format format,
                                           char** out_text) {
  return capi::guard([&] {
    capi::require_arg(out_text, "qsim_describe_model", "out_text");
    *out_text = nullptr;
    capi::require_arg(model_path, "qsim_describe_model", "model_path");
    require(format == QSIM_FORMAT_TEXT || format == QSIM_FORMAT_JSON, ErrorCode::kInvalidArgument,
            "qsim_describe_model: unknown format");
    Model m = load_onnx_file(model_path);
    auto unsupported = find_unsupported_ops(m, default_registry());
    *out_text = capi::copy_to_c(format == QSIM_FORMAT_JSON ? describe_json(m, unsupported)
                                                           : describe_text(m, unsupported));
  });
}
