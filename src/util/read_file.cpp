#include "util/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace qsim {
namespace {

// Closes the descriptor on every path out, errors included.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// POSIX calls rather than an ifstream: a read error inside istreambuf_iterator escapes as
// std::ios_base::failure (an "internal error" at the C API) instead of a kIo naming the file.
std::string read_file_bytes(const std::string& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) fail(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat info;
  if (::fstat(file.fd, &info) != 0)
    fail(ErrorCode::kIo, "cannot read '" + path + "': " + std::strerror(errno));
  require(!S_ISDIR(info.st_mode), ErrorCode::kIo, "cannot read '" + path + "': it is a folder");
  std::string bytes;
  // The size is a hint (a pipe or /proc file says 0, a growing file more): read to the end.
  if (S_ISREG(info.st_mode) && info.st_size > 0) bytes.reserve(static_cast<size_t>(info.st_size));
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ErrorCode::kIo, "cannot read '" + path + "': " + std::strerror(errno));
    if (n == 0) return bytes;
    bytes.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace qsim
