#include "io/output_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "io/atomic_file.h"
#include "util/error.h"

namespace qsim {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_io(const std::string& what, const fs::path& path, int err) {
  fail(ErrorCode::kIo, what + " '" + path.string() + "': " + std::strerror(err));
}

void check_names(const std::vector<OutputFile>& files) {
  std::set<std::string> seen;
  for (const OutputFile& f : files) {
    require(
        !f.name.empty() && f.name != "." && f.name != ".." && f.name.find('/') == std::string::npos,
        ErrorCode::kInvalidArgument, "output file name '" + f.name + "' is not a plain file name");
    require(seen.insert(f.name).second, ErrorCode::kInvalidArgument,
            "output file '" + f.name + "' is given twice");
  }
}

// Removes the (empty) folders, innermost first.
void remove_folders(const std::vector<fs::path>& outermost_first) {
  for (auto it = outermost_first.rbegin(); it != outermost_first.rend(); ++it) ::rmdir(it->c_str());
}

// Creates `folder` and returns the folders that did not exist before, outermost first.
std::vector<fs::path> create_folder(const fs::path& folder) {
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = folder; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::reverse(missing.begin(), missing.end());
  try {
    fs::create_directories(folder, ec);  // can still throw bad_alloc
  } catch (...) {
    remove_folders(missing);
    throw;
  }
  if (!ec && fs::is_directory(folder, ec)) return missing;
  remove_folders(missing);
  if (ec)
    fail(ErrorCode::kIo, "cannot create output folder '" + folder.string() + "': " + ec.message());
  fail_io("cannot create output folder", folder, ENOTDIR);
}

// One file on its way into place: written to `temp`, then renamed to `target`.
struct Staged {
  std::string temp;
  fs::path target;
  bool renamed = false;
};

// Writes `file` to a fresh temporary name next to its target; records it in `staged` as
// soon as the name exists, so a failure half-way still gets cleaned up. Nothing between
// creating the name and recording it allocates (`staged` has room reserved, the names are
// built before), so running out of memory cannot leave a temporary file behind.
void stage(const fs::path& folder, const OutputFile& file, std::vector<Staged>& staged) {
  Staged entry{(folder / ("." + file.name + ".XXXXXX")).string(), folder / file.name};
  int fd = ::mkstemp(entry.temp.data());
  if (fd < 0) fail_io("cannot write", entry.target, errno);
  staged.push_back(std::move(entry));
  const fs::path& target = staged.back().target;
  try {
    if (::fchmod(fd, 0644) != 0) fail_io("cannot write", target, errno);
    write_and_sync(fd, file.contents, target.string());
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail_io("cannot write", target, errno);
}

// Makes the renames durable; a folder that cannot be opened for syncing is not an error.
void sync_folder(const fs::path& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void roll_back(const std::vector<Staged>& staged, const std::vector<fs::path>& created) {
  for (const Staged& s : staged) ::unlink(s.renamed ? s.target.c_str() : s.temp.c_str());
  remove_folders(created);
}

}  // namespace

void write_files_all_or_nothing(const std::string& folder, const std::vector<OutputFile>& files) {
  check_names(files);
  const fs::path dir(folder);
  const std::vector<fs::path> created = create_folder(dir);
  std::vector<Staged> staged;
  try {
    staged.reserve(files.size());
    for (const OutputFile& file : files) stage(dir, file, staged);
    for (Staged& s : staged) {
      if (std::rename(s.temp.c_str(), s.target.c_str()) != 0)
        fail_io("cannot rename into", s.target, errno);
      s.renamed = true;
    }
  } catch (...) {
    roll_back(staged, created);
    throw;
  }
  sync_folder(dir);
}

}  // namespace qsim
