#include "util/read_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "util/error.h"

namespace qsim {

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  require(!in.bad(), ErrorCode::kIo, "cannot read '" + path + "'");
  return bytes;
}

}  // namespace qsim
