#include "techniques/model_transforms.h"

#include <utility>

#include "graph/bn_fold.h"

namespace qsim {

TransformOutcome fold_batch_norm_transform(const Model& model) {
  BatchNormFoldResult folded = fold_batch_norms(model);
  TransformOutcome outcome{std::move(folded.model), {}, {}};
  if (!folded.folded.empty()) {
    outcome.record.name = "bn_fold";
    for (const FoldedBatchNorm& f : folded.folded) outcome.record.options[f.batch_norm] = f.layer;
  }
  for (const std::string& reason : folded.skipped)
    outcome.notes.push_back("BatchNormalization not folded: " + reason);
  return outcome;
}

}  // namespace qsim
