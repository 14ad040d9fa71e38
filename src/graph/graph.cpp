#include "graph/graph.h"

#include <set>
#include <unordered_map>

#include "util/error.h"

namespace qsim {

Attribute Attribute::of_int(int64_t value) {
  Attribute a;
  a.kind = Kind::kInt;
  a.i = value;
  return a;
}

Attribute Attribute::of_float(float value) {
  Attribute a;
  a.kind = Kind::kFloat;
  a.f = value;
  return a;
}

Attribute Attribute::of_ints(std::vector<int64_t> values) {
  Attribute a;
  a.kind = Kind::kInts;
  a.ints = std::move(values);
  return a;
}

Attribute Attribute::of_floats(std::vector<float> values) {
  Attribute a;
  a.kind = Kind::kFloats;
  a.floats = std::move(values);
  return a;
}

Attribute Attribute::of_string(std::string value) {
  Attribute a;
  a.kind = Kind::kString;
  a.s = std::move(value);
  return a;
}

Attribute Attribute::of_tensor(Tensor value) {
  Attribute a;
  a.kind = Kind::kTensor;
  a.t = std::move(value);
  return a;
}
namespace {

const Attribute& expect_kind(const Node& node, const std::string& attr, Attribute::Kind kind,
                             const char* kind_name) {
  const Attribute& a = node.attributes.at(attr);
  if (a.kind != kind)
    fail(ErrorCode::kInvalidArgument,
         node.label() + ": attribute '" + attr + "' should be " + kind_name);
  return a;
}

}  // namespace

int64_t Node::get_int(const std::string& attr, int64_t fallback) const {
  return has(attr) ? expect_kind(*this, attr, Attribute::Kind::kInt, "an int").i : fallback;
}

float Node::get_float(const std::string& attr, float fallback) const {
  return has(attr) ? expect_kind(*this, attr, Attribute::Kind::kFloat, "a float").f : fallback;
}

std::string Node::get_string(const std::string& attr, const std::string& fallback) const {
  return has(attr) ? expect_kind(*this, attr, Attribute::Kind::kString, "a string").s : fallback;
}

std::vector<int64_t> Node::get_ints(const std::string& attr, std::vector<int64_t> fallback) const {
  return has(attr) ? expect_kind(*this, attr, Attribute::Kind::kInts, "a list of ints").ints
                   : fallback;
}

std::vector<float> Node::get_floats(const std::string& attr, std::vector<float> fallback) const {
  return has(attr) ? expect_kind(*this, attr, Attribute::Kind::kFloats, "a list of floats").floats
                   : fallback;
}

std::string Node::label() const {
  return op_type + " '" + (name.empty() ? (outputs.empty() ? "?" : outputs[0]) : name) + "'";
}

const Tensor* Graph::find_initializer(const std::string& name) const {
  auto it = initializers.find(name);
  return it == initializers.end() ? nullptr : &it->second;
}

std::map<std::string, int64_t> Model::op_counts() const {
  std::map<std::string, int64_t> counts;
  for (const Node& n : graph.nodes) counts[n.op_type]++;
  return counts;
}

int64_t Model::parameter_count() const {
  int64_t count = 0;
  for (const auto& [name, t] : graph.initializers)
    if (t.dtype() == DType::kFloat32) count += t.size();
  return count;
}

void sort_topologically(Graph& graph) {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& out : graph.nodes[i].outputs)
      if (!out.empty()) producer[out] = i;
  std::set<std::string> available;
  for (const auto& v : graph.inputs) available.insert(v.name);
  for (const auto& [name, t] : graph.initializers) available.insert(name);

  // Depth-first post-order from each node keeps the original order when it is already valid.
  // The walk keeps its own stack (node, next input to look at), so a chain of any length
  // listed backwards cannot overflow the call stack.
  std::vector<int> state(graph.nodes.size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<Node> ordered;
  ordered.reserve(graph.nodes.size());
  std::vector<std::pair<size_t, size_t>> stack;
  auto enter = [&](size_t i) {
    if (state[i] == 2) return;
    if (state[i] == 1)
      fail(ErrorCode::kParse, "the graph has a cycle through " + graph.nodes[i].label());
    state[i] = 1;
    stack.emplace_back(i, 0);
  };
  for (size_t root = 0; root < graph.nodes.size(); ++root) {
    enter(root);
    while (!stack.empty()) {
      auto& [i, next] = stack.back();
      const Node& node = graph.nodes[i];
      if (next == node.inputs.size()) {
        state[i] = 2;
        ordered.push_back(node);
        stack.pop_back();
        continue;
      }
      const std::string& in = node.inputs[next++];
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        fail(ErrorCode::kParse, node.label() + ": input '" + in +
                                    "' is not produced by any node, initializer or graph input");
      enter(it->second);  // may reallocate the stack: `i` and `next` are not used after it
    }
  }
  for (const auto& out : graph.outputs)
    if (!available.count(out.name) && !producer.count(out.name))
      fail(ErrorCode::kParse, "graph output '" + out.name + "' is not produced by any node");
  graph.nodes = std::move(ordered);
}

}  // namespace qsim
