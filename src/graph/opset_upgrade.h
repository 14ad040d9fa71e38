// Raises a model's default-domain opset, rewriting the nodes whose interface or meaning changed
// on the way (attributes that became inputs, Softmax's 2-D coercion before opset 13, Upsample
// replaced by Resize, ...), as ONNX's version converter does (docs/OPSETS.md lists the rules
// and their sources). The QDQ export uses it to reach the opset its Q/DQ form needs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace qsim {

// An op whose inputs or meaning changed at `opset` (from ONNX's docs/Changelog.md): a node of
// that op in a model below `opset` cannot simply be relabelled. Changes that only add types or
// optional attributes are not listed. This is the one table of such changes.
struct OpsetChange {
  const char* op_type;
  int64_t opset;
  const char* what;  // what changed, for messages and docs
  bool upgradable;   // qsim has a rewrite for it
};

std::span<const OpsetChange> opset_changes();

struct OpsetUpgradeReport {
  int64_t from = 0;
  int64_t to = 0;
  std::vector<std::string> rewritten;  // "Clip 'c' (opset 11: min and max became inputs)"
};

// Rewrites `model` (default domain) from its opset to `target`; nothing happens when the model
// is already at `target` or later. Throws kUnsupported naming the node (and why) for a node whose
// op changed between the two opsets in a way qsim cannot rewrite; `model` is then unchanged.
OpsetUpgradeReport upgrade_opset(Model& model, int64_t target);

}  // namespace qsim
