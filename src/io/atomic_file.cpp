#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "util/error.h"

namespace qsim {
namespace {

[[noreturn]] void fail_write(const std::string& path, int err) {
  fail(ErrorCode::kIo, "cannot write '" + path + "': " + std::strerror(err));
}

}  // namespace

void write_and_sync(int fd, const std::string& contents, const std::string& path) {
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_write(path, n < 0 ? errno : ENOSPC);
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail_write(path, errno);
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  std::string temp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_write(path, errno);
  try {
    write_and_sync(fd, contents, path);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    fail_write(path, err);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    fail(ErrorCode::kIo, "cannot rename into '" + path + "': " + std::strerror(err));
  }
}

}  // namespace qsim
