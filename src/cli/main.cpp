#include <cstdio>

#include "qsim/qsim.h"

int main() {
  std::printf("qsim %s\n", qsim_version());
  return 0;
}
