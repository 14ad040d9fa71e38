// Running a batch as slices of a few images, each slice through the whole graph on one thread.
//
// Threads that each take whole slices share nothing while they run: no node waits for the
// slower half of another's split, and no tensor written by one core is read by the other.
// The slices depend on the batch size alone, never on the thread count, so results stay the
// same for any number of threads (OpenBLAS's Gemm gives different last bits for a row
// depending on how many rows it is called with).
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph.h"
#include "runtime/execution_plan.h"

namespace qsim {

// Images per slice.
inline constexpr int64_t kSliceImages = 8;

// The sizes of the slices a batch is cut into, first to last: kSliceImages each and a
// shorter last one; empty (run the batch whole) below two slices.
std::vector<int64_t> batch_slice_sizes(int64_t batch);

// Whether running `graph` on a slice of the batch gives that slice's rows of the whole batch's
// result: `whole` and `slice` are its plans for the batch and for `slice_batch` images of it.
// True when every value computed at run time has the batch as its first dimension in both
// plans, every constant a run reads is the same in both (a Reshape's shape may differ) and
// every node is of an op that treats the images of a batch apart (Softmax not along the
// batch). Anything else, e.g. Slice or Pad, which could reorder the batch, is run whole.
bool runs_image_by_image(const Graph& graph, int64_t opset, const ExecutionPlan& whole,
                         const ExecutionPlan& slice, int64_t batch, int64_t slice_batch);

}  // namespace qsim
