// AdaRound and AdaQuant (docs/SOURCES.md section 5; docs/ADAROUND.md): per Conv, ConvTranspose,
// Gemm and MatMul with a quantized constant weight, in topological order, the weight's rounding
// (AdaRound) or values (AdaQuant) are optimized so that the layer's output, passed through the
// activation that follows it, reproduces the float model's on calibration data. The layer's
// input comes from the model with every earlier layer already optimized (activations float);
// the weight encodings stay as they are.
//
// The calibration samples are read once and kept (like every per-layer cache) within the
// memory budget, past which they go to an unlinked temporary file. Results are bit-identical
// for a seed whatever the thread count and the budget.
#pragma once

#include "quant/quantsim.h"
#include "techniques/adaround_options.h"

namespace qsim {

// Optimizes `sim`'s weights and commits them (QuantSim::set_tuned_parameters), recording the
// technique and its options in sim.encodings(). Reads at most options.samples samples from
// `next_batch` (batches of the model inputs, as QuantSim::calibrate takes them). `progress`
// (may be empty) is called while each layer's inputs are cached and after every iteration of
// every layer, with done and total iterations over all layers, and a last time (done == total)
// with the report's summary; returning false cancels.
// Throws kState unless sim.ready() (calibrate or load encodings first), kInvalidArgument for
// bad options or a reader that gives no sample, kNumeric for NaN/Inf in the data, kCancelled;
// `sim` is unchanged by any failure.
AdaRoundReport adaround(QuantSim& sim, const BatchReader& next_batch,
                        const AdaRoundOptions& options, const ProgressFn& progress);

}  // namespace qsim
