// All-or-nothing output of several files into one folder (an export): readers find either
// none of the new files or all of them, never a partial set.
#pragma once

#include <string>
#include <vector>

namespace qsim {

struct OutputFile {
  std::string name;  // file name inside the folder, no '/'
  std::string contents;
};

// Creates `folder` (and missing parents), writes every file under a temporary name in it
// and flushes it, then renames them all into place. On any failure it removes every file it
// staged or renamed and every folder it created, and throws kIo naming the file and the
// system's reason. (A file that a renamed one had replaced is gone then, as with any
// overwrite; renames within one folder fail only when a target name is held by a folder.)
void write_files_all_or_nothing(const std::string& folder, const std::vector<OutputFile>& files);

}  // namespace qsim
