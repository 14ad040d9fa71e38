#include "quant/model_transform.h"

#include <utility>

namespace qsim {

std::string technique_names(const std::vector<AppliedTechnique>& techniques) {
  std::string names;
  for (const AppliedTechnique& technique : techniques)
    names += (names.empty() ? "" : ",") + technique.name;
  return names;
}

TransformedModel apply_transforms(const Model& model,
                                  const std::vector<ModelTransform>& transforms) {
  TransformedModel result{model, {}, {}, nullptr};
  for (const ModelTransform& transform : transforms) {
    TransformOutcome outcome = transform({result.model, result.statistics});
    const bool changed = !outcome.record.name.empty();
    if (changed) result.applied.push_back(std::move(outcome.record));
    // A transform that changed the model without saying what its layers are now leaves
    // them unknown.
    if (outcome.statistics || changed) result.statistics = std::move(outcome.statistics);
    result.notes.insert(result.notes.end(), outcome.notes.begin(), outcome.notes.end());
    result.model = std::move(outcome.model);
  }
  return result;
}

}  // namespace qsim
