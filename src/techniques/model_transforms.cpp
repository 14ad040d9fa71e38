#include "techniques/model_transforms.h"

#include <utility>

#include "graph/bn_fold.h"

namespace qsim {

namespace {

BatchNormStatistics statistics_of(const Model& model, const std::vector<FoldedBatchNorm>& folded) {
  BatchNormStatistics stats;
  const auto vector_input = [&](const Node& bn, size_t input) -> const Tensor* {
    const Tensor* t =
        bn.has_input(input) ? model.graph.find_initializer(bn.inputs[input]) : nullptr;
    return t != nullptr && t->dtype() == DType::kFloat32 && t->rank() == 1 ? t : nullptr;
  };
  for (const FoldedBatchNorm& f : folded)
    for (const Node& bn : model.graph.nodes) {
      const std::string id = bn.name.empty() ? bn.outputs.at(0) : bn.name;
      if (bn.op_type != "BatchNormalization" || id != f.batch_norm) continue;
      const Tensor* gamma = vector_input(bn, 1);
      const Tensor* beta = vector_input(bn, 2);
      if (gamma == nullptr || beta == nullptr || gamma->size() != beta->size()) break;
      PreActivationStatistics& s = stats[f.layer];
      s.gamma.assign(gamma->data<float>(), gamma->data<float>() + gamma->size());
      s.beta.assign(beta->data<float>(), beta->data<float>() + beta->size());
      break;
    }
  return stats;
}

}  // namespace

BatchNormStatistics batch_norm_statistics(const Model& model) {
  return statistics_of(model, fold_batch_norms(model).folded);
}

TransformOutcome fold_batch_norm_transform(const TransformInput& input) {
  BatchNormFoldResult folded = fold_batch_norms(input.model);
  TransformOutcome outcome{std::move(folded.model), {}, {}, input.statistics};
  if (!folded.folded.empty()) {
    // What was known of other layers still holds: folding changes only the layers it folds into.
    BatchNormStatistics stats = input.statistics ? *input.statistics : BatchNormStatistics{};
    for (auto& [layer, layer_stats] : statistics_of(input.model, folded.folded))
      stats[layer] = std::move(layer_stats);
    outcome.statistics = std::make_shared<const BatchNormStatistics>(std::move(stats));
    outcome.record.name = "bn_fold";
    for (const FoldedBatchNorm& f : folded.folded) outcome.record.options[f.batch_norm] = f.layer;
  }
  for (const std::string& reason : folded.skipped)
    outcome.notes.push_back("BatchNormalization not folded: " + reason);
  return outcome;
}

}  // namespace qsim
