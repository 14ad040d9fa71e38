#include "graph/opset_upgrade.h"

#include <algorithm>
#include <array>
#include <optional>

#include "graph/name_table.h"
#include "util/error.h"

namespace qsim {
namespace {

// From ONNX's docs/Changelog.md and docs/Operators.md (each op's "Version" section); the rules
// below follow onnx/version_converter's adapters for the same steps.
constexpr std::array<OpsetChange, 31> kChanges = {{
    {"BatchNormalization", 9, "the spatial attribute was removed", true},
    {"Upsample", 9, "scales became an input", true},
    {"Upsample", 10, "Upsample was deprecated in favour of Resize", true},
    {"Slice", 10, "starts, ends and axes became inputs", true},
    {"TopK", 10, "k became an input", true},
    {"Resize", 11, "roi became an input and the coordinate transformation an attribute", true},
    {"Clip", 11, "min and max became inputs", true},
    {"Pad", 11, "pads and value became inputs", true},
    {"Scatter", 11, "Scatter was deprecated in favour of ScatterElements", true},
    {"Dropout", 12, "ratio became an input", true},
    {"Split", 13, "split became an input", true},
    {"Squeeze", 13, "axes became an input", true},
    {"Unsqueeze", 13, "axes became an input", true},
    {"ReduceSum", 13, "axes became an input", true},
    {"Softmax", 13, "axis names one axis instead of coercing the input to 2-D", true},
    {"LogSoftmax", 13, "axis names one axis instead of coercing the input to 2-D", true},
    {"Hardmax", 13, "axis names one axis instead of coercing the input to 2-D", true},
    {"Resize", 13, "coordinate_transformation_mode tf_half_pixel_for_nn was removed", true},
    {"BatchNormalization", 14, "training mode became the training_mode attribute", true},
    {"ReduceL1", 18, "axes became an input", true},
    {"ReduceL2", 18, "axes became an input", true},
    {"ReduceLogSum", 18, "axes became an input", true},
    {"ReduceLogSumExp", 18, "axes became an input", true},
    {"ReduceMax", 18, "axes became an input", true},
    {"ReduceMean", 18, "axes became an input", true},
    {"ReduceMin", 18, "axes became an input", true},
    {"ReduceProd", 18, "axes became an input", true},
    {"ReduceSumSquare", 18, "axes became an input", true},
    {"Split", 18, "without a split input, num_outputs is required", true},
    {"GridSample", 20, "the mode names changed (bilinear -> linear, bicubic -> cubic)", false},
    {"GroupNormalization", 21, "scale and bias became per channel, not per group", false},
}};

Tensor float_vector(const std::vector<float>& values) {
  Tensor t(DType::kFloat32, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

// One node's rewrite: the nodes that replace it (usually itself, changed).
class Rewriter {
 public:
  Rewriter(Model& model, NameTable& names, int64_t target)
      : model_(model), names_(names), target_(target) {}

  // Applies the change `change` to `node`, appending the result to `out`.
  void apply(const OpsetChange& change, Node node, int64_t target, std::vector<Node>& out) {
    const std::string op = change.op_type;
    if (op == "Clip")
      clip(node);
    else if (op == "Slice")
      attributes_to_inputs(node, {"starts", "ends", "axes"});
    else if (op == "Squeeze" || op == "Unsqueeze" || op.rfind("Reduce", 0) == 0)
      attributes_to_inputs(node, {"axes"});
    else if (op == "Split" && change.opset == 13)
      attributes_to_inputs(node, {"split"});
    else if (op == "Split")
      split_num_outputs(node);
    else if (op == "Pad")
      pad(node);
    else if (op == "TopK")
      topk(node);
    else if (op == "Dropout")
      dropout(node);
    else if (op == "Scatter")
      node.op_type = "ScatterElements";
    else if (op == "BatchNormalization")
      batch_norm(node, change.opset);
    else if (op == "Upsample")
      upsample(node, change.opset);
    else if (op == "Resize" && change.opset == 11)
      resize_10(node, target);
    else if (op == "Resize")
      resize_13(node);
    else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax")
      return softmax(std::move(node), out);
    out.push_back(std::move(node));
  }

 private:
  [[noreturn]] void refuse(const Node& node, const std::string& why) const {
    fail(ErrorCode::kUnsupported, node.label() + ": cannot raise the opset from " +
                                      std::to_string(model_.opset) + " to " +
                                      std::to_string(target_) + ": " + why);
  }

  std::string add_constant(const Node& node, const std::string& what, Tensor value) {
    const std::string name =
        names_.fresh((node.name.empty() ? node.op_type : node.name) + "_" + what);
    model_.graph.initializers[name] = std::move(value);
    return name;
  }

  // Puts `name` at input `index`, padding skipped optional inputs with "".
  static void set_input(Node& node, size_t index, const std::string& name) {
    if (node.inputs.size() <= index) node.inputs.resize(index + 1);
    node.inputs[index] = name;
  }

  // Removes trailing omitted inputs.
  static void trim_inputs(Node& node) {
    while (!node.inputs.empty() && node.inputs.back().empty()) node.inputs.pop_back();
  }

  // Integer list attributes that became inputs 1, 2, ... in this order.
  void attributes_to_inputs(Node& node, const std::vector<std::string>& names) {
    require(node.inputs.size() <= 1, ErrorCode::kInvalidArgument,
            node.label() + " has more inputs than its opset allows");
    for (size_t i = 0; i < names.size(); ++i) {
      if (!node.has(names[i])) continue;
      set_input(node, i + 1,
                add_constant(node, names[i], make_int64_tensor(node.get_ints(names[i]))));
      node.attributes.erase(names[i]);
    }
    trim_inputs(node);
  }

  void clip(Node& node) {
    const std::array<const char*, 2> bounds = {"min", "max"};
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (!node.has(bounds[i])) continue;
      set_input(node, i + 1,
                add_constant(node, bounds[i], make_scalar_float(node.get_float(bounds[i], 0.0f))));
      node.attributes.erase(bounds[i]);
    }
    trim_inputs(node);
  }

  void pad(Node& node) {
    if (!node.has("pads")) refuse(node, "attribute 'pads' is missing");
    set_input(node, 1, add_constant(node, "pads", make_int64_tensor(node.get_ints("pads"))));
    node.attributes.erase("pads");
    // Pad-2 is float only, so the value is a float scalar; 0 is the default either way.
    if (node.has("value")) {
      set_input(node, 2,
                add_constant(node, "value", make_scalar_float(node.get_float("value", 0))));
      node.attributes.erase("value");
    }
  }

  void topk(Node& node) {
    if (!node.has("k")) refuse(node, "attribute 'k' is missing");
    set_input(node, 1, add_constant(node, "k", make_int64_tensor({node.get_int("k", 0)})));
    node.attributes.erase("k");
  }

  void split_num_outputs(Node& node) {
    if (node.has_input(1) || node.has("num_outputs")) return;
    node.attributes["num_outputs"] = Attribute::of_int(static_cast<int64_t>(node.outputs.size()));
  }

  void dropout(Node& node) {
    // Before opset 10 the mask had the input's type; from 10 it is bool.
    if (model_.opset < 10 && node.outputs.size() > 1 && !node.outputs[1].empty())
      refuse(node, "its mask output changed type at opset 10 (to bool)");
    if (node.has("ratio")) {
      set_input(node, 1,
                add_constant(node, "ratio", make_scalar_float(node.get_float("ratio", 0.5f))));
      node.attributes.erase("ratio");
    }
  }

  void batch_norm(Node& node, int64_t change) {
    if (change == 9) {
      if (node.get_int("spatial", 1) != 1)
        refuse(node, "spatial=0 (statistics per activation) has no form from opset 9 on");
      node.attributes.erase("spatial");
      return;
    }
    // Opset 14: the extra outputs exist only with training_mode=1.
    for (size_t i = 1; i < node.outputs.size(); ++i)
      if (!node.outputs[i].empty())
        refuse(node,
               "it computes training statistics (extra outputs), which opset 14 ties to "
               "training_mode=1");
  }

  // Resize's attributes that give Upsample's and Resize-10's sampling from opset 11 on:
  // asymmetric coordinates, nearest rounding down.
  static void sample_like_upsample(Node& node) {
    node.attributes["coordinate_transformation_mode"] = Attribute::of_string("asymmetric");
    if (node.get_string("mode", "nearest") == "nearest")
      node.attributes["nearest_mode"] = Attribute::of_string("floor");
  }

  // Resize-11 needs an roi input; from 13 it may be omitted.
  std::string roi_input(const Node& node, int64_t target) {
    return target >= 13 ? "" : add_constant(node, "roi", Tensor(DType::kFloat32, {0}));
  }

  void upsample(Node& node, int64_t change) {
    if (change == 9) {  // scales: attribute -> input 1
      if (node.has("scales")) {
        set_input(node, 1, add_constant(node, "scales", float_vector(node.get_floats("scales"))));
        node.attributes.erase("scales");
      }
      if (!node.has_input(1)) refuse(node, "it has no scales");
      return;
    }
    const std::string mode = node.get_string("mode", "nearest");
    if (mode != "nearest" && mode != "linear" && mode != "bilinear")
      refuse(node, "mode '" + mode + "' has no Resize equivalent");
    node.op_type = "Resize";
    node.attributes["mode"] = Attribute::of_string(mode == "nearest" ? "nearest" : "linear");
    // Resize's own change at opset 11 (kChanges' next rows) completes the rewrite.
  }

  // Resize-10 (X, scales) -> Resize-11 (X, roi, scales) with Resize-10's sampling.
  void resize_10(Node& node, int64_t target) {
    if (node.inputs.size() != 2) refuse(node, "Resize before opset 11 takes exactly X and scales");
    node.inputs = {node.inputs[0], roi_input(node, target), node.inputs[1]};
    sample_like_upsample(node);
  }

  // Resize-13 lost tf_half_pixel_for_nn, whose (x + 0.5) / scale no remaining mode computes.
  void resize_13(Node& node) {
    if (node.get_string("coordinate_transformation_mode", "") == "tf_half_pixel_for_nn")
      refuse(node,
             "coordinate_transformation_mode tf_half_pixel_for_nn has no form from opset 13 on");
  }

  // The rank of `tensor` when the graph says it without running anything.
  std::optional<size_t> known_rank(const std::string& tensor) const {
    if (const Tensor* t = model_.graph.find_initializer(tensor)) return t->rank();
    for (const ValueInfo& input : model_.graph.inputs)
      if (input.name == tensor && input.dims) return input.dims->size();
    for (const Node& node : model_.graph.nodes)
      if (!node.outputs.empty() && node.outputs[0] == tensor && node.domain.empty() &&
          (node.op_type == "Gemm" || node.op_type == "Flatten"))
        return 2;
    return std::nullopt;
  }

  // Before opset 13, Softmax (LogSoftmax, Hardmax) coerces its input to 2-D at `axis` and
  // normalizes each row; from 13 it normalizes along `axis` alone. The two agree when `axis` is
  // the last; otherwise Flatten -> op(axis = 1) -> Reshape to the input's shape keeps the old
  // meaning (onnx/version_converter's softmax_12_13 adapter does the same).
  void softmax(Node node, std::vector<Node>& out) {
    const int64_t axis = node.get_int("axis", 1);
    const std::optional<size_t> rank = known_rank(node.inputs.at(0));
    if (axis == -1 || (rank && axis == static_cast<int64_t>(*rank) - 1)) {
      out.push_back(std::move(node));
      return;
    }
    const std::string base = node.name.empty() ? node.op_type : node.name;
    const std::string x = node.inputs.at(0);
    const std::string y = node.outputs.at(0);
    Node flatten;
    flatten.name = names_.fresh(base + "_flatten");
    flatten.op_type = "Flatten";
    flatten.inputs = {x};
    flatten.outputs = {names_.fresh(x + "_2d")};
    flatten.attributes["axis"] = Attribute::of_int(axis);
    Node shape;
    shape.name = names_.fresh(base + "_shape");
    shape.op_type = "Shape";
    shape.inputs = {x};
    shape.outputs = {names_.fresh(x + "_shape")};
    Node reshape;
    reshape.name = names_.fresh(base + "_reshape");
    reshape.op_type = "Reshape";
    reshape.inputs = {names_.fresh(y + "_2d"), shape.outputs[0]};
    reshape.outputs = {y};
    node.inputs[0] = flatten.outputs[0];
    node.outputs[0] = reshape.inputs[0];
    node.attributes["axis"] = Attribute::of_int(1);
    out.push_back(std::move(flatten));
    out.push_back(std::move(node));
    out.push_back(std::move(shape));
    out.push_back(std::move(reshape));
  }

  Model& model_;
  NameTable& names_;
  int64_t target_;
};

}  // namespace

std::span<const OpsetChange> opset_changes() {
  return kChanges;
}

OpsetUpgradeReport upgrade_opset(Model& model, int64_t target) {
  OpsetUpgradeReport report{model.opset, std::max(model.opset, target), {}};
  if (model.opset >= target) return report;
  Model upgraded = model;  // `model` stays as it was when a node cannot be rewritten
  NameTable names(upgraded.graph);
  Rewriter rewriter(upgraded, names, target);
  std::vector<Node> nodes;
  for (const Node& original : model.graph.nodes) {
    std::vector<Node> current = {original};
    if (original.domain.empty()) {
      // The changes of this op in (opset, target], in opset order: each sees the last's result.
      for (const OpsetChange& change : kChanges) {
        if (change.opset <= model.opset || change.opset > target) continue;
        std::vector<Node> next;
        for (Node& node : current) {
          if (node.op_type != change.op_type || !node.domain.empty()) {
            next.push_back(std::move(node));
            continue;
          }
          if (!change.upgradable)
            fail(ErrorCode::kUnsupported, node.label() + ": cannot raise the opset from " +
                                              std::to_string(model.opset) + " to " +
                                              std::to_string(target) + ": at opset " +
                                              std::to_string(change.opset) + " " + change.what +
                                              ", and qsim has no rewrite for that");
          report.rewritten.push_back(node.label() + " (opset " + std::to_string(change.opset) +
                                     ": " + change.what + ")");
          rewriter.apply(change, std::move(node), target, next);
        }
        current = std::move(next);
      }
    }
    for (Node& node : current) nodes.push_back(std::move(node));
  }
  upgraded.graph.nodes = std::move(nodes);
  upgraded.opset = target;
  model = std::move(upgraded);
  return report;
}

}  // namespace qsim
