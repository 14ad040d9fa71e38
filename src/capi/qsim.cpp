#include "qsim/qsim.h"

extern "C" const char* qsim_version(void) { return QSIM_VERSION_STRING; }
