#include "fault_hooks.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_set>

namespace fault {
namespace {

std::atomic<bool> g_armed{false};
std::atomic<int> g_kind{0};
std::atomic<long> g_count{0};
std::atomic<long> g_fail_at{0};
std::atomic<bool> g_persistent{false};
std::atomic<bool> g_injected{false};
std::atomic<long> g_renames{0};
std::mutex g_hook_mutex;
std::function<void(long)> g_before_rename;

// The call stack of each operation of a counting run, as a hash; a fixed array, because
// the recording runs inside operator new.
constexpr long kMaxRecorded = 1 << 20;
uint64_t g_stacks[kMaxRecorded];

uint64_t stack_hash() {
  void* frames[12];
  const int depth = ::backtrace(frames, 12);
  uint64_t hash = 1469598103934665603ull;  // FNV-1a over the frames above the hooks' own two
  for (int i = 2; i < depth; ++i) {
    hash ^= reinterpret_cast<uintptr_t>(frames[i]);
    hash *= 1099511628211ull;
  }
  return hash;
}

bool should_fail(Kind kind) {
  if (!g_armed.load(std::memory_order_acquire) || g_kind.load() != static_cast<int>(kind))
    return false;
  const long n = g_count.fetch_add(1) + 1;
  if (g_fail_at.load() == 0 && n <= kMaxRecorded) g_stacks[n - 1] = stack_hash();
  const long at = g_fail_at.load();
  const bool fail = at > 0 && (n == at || (g_persistent.load() && n > at));
  if (fail) g_injected.store(true);
  return fail;
}

// The next definition of `name` after this executable's (libc's, or a sanitizer's
// interceptor); resolved once.
template <typename Function>
Function next(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) std::abort();
  return reinterpret_cast<Function>(symbol);
}

void* allocate(std::size_t size) {
  if (should_fail(Kind::kAllocation)) return nullptr;
  return std::malloc(size == 0 ? 1 : size);
}

void* allocate_aligned(std::size_t size, std::size_t alignment) {
  if (should_fail(Kind::kAllocation)) return nullptr;
  void* memory = nullptr;
  if (alignment < sizeof(void*)) alignment = sizeof(void*);
  return ::posix_memalign(&memory, alignment, size == 0 ? 1 : size) == 0 ? memory : nullptr;
}

void* allocate_or_throw(std::size_t size) {
  void* memory = allocate(size);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

void* allocate_aligned_or_throw(std::size_t size, std::align_val_t alignment) {
  void* memory = allocate_aligned(size, static_cast<std::size_t>(alignment));
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

}  // namespace

void arm(Kind kind, long fail_at, bool persistent) {
  static const bool warm = [] {  // backtrace() loads libgcc_s on its first call
    void* frames[2];
    return ::backtrace(frames, 2) > 0;
  }();
  (void)warm;
  g_kind.store(static_cast<int>(kind));
  g_count.store(0);
  g_fail_at.store(fail_at);
  g_persistent.store(persistent);
  g_injected.store(false);
  g_renames.store(0);
  g_armed.store(true, std::memory_order_release);
}

long disarm() {
  g_armed.store(false, std::memory_order_release);
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  g_before_rename = nullptr;
  return g_count.load();
}

std::vector<long> failure_points(long total, bool every) {
  std::vector<long> points;
  if (every || total > kMaxRecorded) {
    for (long n = 1; n <= total; ++n) points.push_back(n);
    return points;
  }
  std::unordered_set<uint64_t> seen;
  for (long n = 1; n <= total; ++n)
    if (seen.insert(g_stacks[n - 1]).second) points.push_back(n);
  return points;
}

bool injected() {
  return g_injected.load();
}

void before_rename(std::function<void(long)> hook) {
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  g_before_rename = std::move(hook);
}

// Called by the rename interposer.
void run_rename_hook() {
  if (!g_armed.load(std::memory_order_acquire)) return;
  const long number = g_renames.fetch_add(1) + 1;
  std::function<void(long)> hook;
  {
    std::lock_guard<std::mutex> lock(g_hook_mutex);
    hook = g_before_rename;
  }
  if (hook) hook(number);
}

bool fail_file_call() {
  return should_fail(Kind::kFile);
}

}  // namespace fault

// ---- operator new and delete, every form ------------------------------------------------

void* operator new(std::size_t size) {
  return fault::allocate_or_throw(size);
}
void* operator new[](std::size_t size) {
  return fault::allocate_or_throw(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return fault::allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return fault::allocate(size);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return fault::allocate_aligned_or_throw(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return fault::allocate_aligned_or_throw(size, alignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return fault::allocate_aligned(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return fault::allocate_aligned(size, static_cast<std::size_t>(alignment));
}
void operator delete(void* memory) noexcept {
  std::free(memory);
}
void operator delete[](void* memory) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::size_t) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, std::size_t) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, std::size_t, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete(void* memory, const std::nothrow_t&) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, const std::nothrow_t&) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(memory);
}

// ---- C functions the library calls --------------------------------------------------------

extern "C" {

// The library's tensors and AdaRound's sample cache come from aligned_alloc. Served by
// posix_memalign, not the next aligned_alloc: with clang's static sanitizer runtime the
// interceptor lives in this executable, RTLD_NEXT would skip it and hand out glibc memory
// that the intercepted free() then rejects.
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  if (fault::should_fail(fault::Kind::kAllocation)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* memory = nullptr;
  const int err = ::posix_memalign(&memory, alignment, size == 0 ? 1 : size);
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  return memory;
}

int open(const char* path, int flags, ...) {
  static const auto real = fault::next<int (*)(const char*, int, ...)>("open");
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list args;
    va_start(args, flags);
    mode = static_cast<mode_t>(va_arg(args, unsigned));
    va_end(args);
  }
  if (fault::fail_file_call()) {
    errno = (flags & O_CREAT) ? ENOSPC : EIO;
    return -1;
  }
  return real(path, flags, mode);
}

int mkstemp(char* name_template) {
  static const auto real = fault::next<int (*)(char*)>("mkstemp");
  if (fault::fail_file_call()) {
    errno = ENOSPC;
    return -1;
  }
  return real(name_template);
}

int mkdir(const char* path, mode_t mode) {
  static const auto real = fault::next<int (*)(const char*, mode_t)>("mkdir");
  if (fault::fail_file_call()) {
    errno = ENOSPC;
    return -1;
  }
  return real(path, mode);
}

ssize_t read(int fd, void* data, std::size_t size) {
  static const auto real = fault::next<ssize_t (*)(int, void*, std::size_t)>("read");
  if (fault::fail_file_call()) {
    errno = EIO;
    return -1;
  }
  return real(fd, data, size);
}

ssize_t pread(int fd, void* data, std::size_t size, off_t at) {
  static const auto real = fault::next<ssize_t (*)(int, void*, std::size_t, off_t)>("pread");
  if (fault::fail_file_call()) {
    errno = EIO;
    return -1;
  }
  return real(fd, data, size, at);
}

ssize_t write(int fd, const void* data, std::size_t size) {
  static const auto real = fault::next<ssize_t (*)(int, const void*, std::size_t)>("write");
  if (fault::fail_file_call()) {
    errno = ENOSPC;
    return -1;
  }
  return real(fd, data, size);
}

ssize_t pwrite(int fd, const void* data, std::size_t size, off_t at) {
  static const auto real = fault::next<ssize_t (*)(int, const void*, std::size_t, off_t)>("pwrite");
  if (fault::fail_file_call()) {
    errno = ENOSPC;
    return -1;
  }
  return real(fd, data, size, at);
}

int fsync(int fd) {
  static const auto real = fault::next<int (*)(int)>("fsync");
  if (fault::fail_file_call()) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

int fchmod(int fd, mode_t mode) {
  static const auto real = fault::next<int (*)(int, mode_t)>("fchmod");
  if (fault::fail_file_call()) {
    errno = EPERM;
    return -1;
  }
  return real(fd, mode);
}

// A failed close still releases the descriptor (POSIX leaves it unspecified; Linux closes).
int close(int fd) {
  static const auto real = fault::next<int (*)(int)>("close");
  const bool fail = fault::fail_file_call();
  const int result = real(fd);
  if (fail) {
    errno = EIO;
    return -1;
  }
  return result;
}

int rename(const char* from, const char* to) {
  static const auto real = fault::next<int (*)(const char*, const char*)>("rename");
  fault::run_rename_hook();
  if (fault::fail_file_call()) {
    errno = EIO;
    return -1;
  }
  return real(from, to);
}

}  // extern "C"
