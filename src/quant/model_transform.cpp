#include "quant/model_transform.h"

namespace qsim {

std::string technique_names(const std::vector<AppliedTechnique>& techniques) {
  std::string names;
  for (const AppliedTechnique& technique : techniques)
    names += (names.empty() ? "" : ",") + technique.name;
  return names;
}

}  // namespace qsim
