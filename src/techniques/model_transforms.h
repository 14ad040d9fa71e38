// The float-model transforms qsim offers (quant/model_transform.h), each as a ModelTransform
// a caller lists in QuantSimOptions::transforms in the order it wants them applied.
#pragma once

#include "quant/model_transform.h"

namespace qsim {

// Batch-norm folding (graph/bn_fold.h), as on-target converters do before quantizing.
// Recorded as "bn_fold" with one option per folded BatchNormalization (its name -> the layer
// it went into); each one left in place is a note "BatchNormalization not folded: <why>".
// Outputs the folded BatchNormalizations' statistics (batch_norm_statistics).
TransformOutcome fold_batch_norm_transform(const TransformInput& input);

// The statistics of every BatchNormalization fold_batch_norms folds in `model` (a model before
// folding), by the name of the layer it folds into.
BatchNormStatistics batch_norm_statistics(const Model& model);

}  // namespace qsim
