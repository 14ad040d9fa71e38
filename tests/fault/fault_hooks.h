// Fault injection for tests/fault: this executable replaces the global operator new (every
// form) and interposes aligned_alloc and the file calls the library makes (open, mkstemp,
// mkdir, read, pread, write, pwrite, fsync, fchmod, close, rename), so that a test can make the Nth
// operation of one kind fail while a library call runs, as SQLite's and libgit2's test
// harnesses do with their allocator and VFS hooks. The library itself has no test switch:
// its allocations and file calls reach these definitions through ordinary symbol
// interposition (the executable's definitions come before libc's and libstdc++'s).
#pragma once

#include <functional>
#include <vector>

namespace fault {

enum class Kind {
  kAllocation,  // operator new (bad_alloc; nullptr for nothrow forms), aligned_alloc (nullptr)
  kFile,        // the file calls above: -1 with an errno that call can give (ENOSPC, EIO, ...)
};

// Counts operations of `kind` from now on; the `fail_at`-th (1-based) fails, and with
// `persistent` every later one too (memory that stays exhausted). fail_at 0 only counts.
// Operations on every thread count.
void arm(Kind kind, long fail_at, bool persistent = false);
// Stops counting and failing; returns the operations counted since arm().
long disarm();

// The failure points worth trying in a call that makes `total` operations: with `every`,
// 1..total; otherwise the first operation of each distinct call stack (the innermost 8
// frames) seen by the last counting run (arm(kind, 0)), so that an allocation in a loop
// is failed once per place it is made from rather than once per pass. Single-threaded calls
// give the same stacks in the same order on every run.
std::vector<long> failure_points(long total, bool every);
// Whether an injected failure happened since arm().
bool injected();

// Called by the interposed rename() before each rename while armed (for either kind):
// 1-based count of renames since arm(). Cleared by disarm().
void before_rename(std::function<void(long rename_number)> hook);

}  // namespace fault
