# Generates the C++ reader/writer header for qsim's FlatBuffers encodings format from
# schemas/qsim_encodings.fbs with flatc (Debian flatbuffers-compiler; its version must match
# the installed flatbuffers headers, which the generated code static_asserts).
#
# Use: include() this file, then qsim_use_encodings_fbs_header(<target>).
find_program(FLATC_EXECUTABLE flatc REQUIRED)

set(QSIM_GENERATED_DIR ${CMAKE_BINARY_DIR}/generated)
set(QSIM_ENCODINGS_SCHEMA ${PROJECT_SOURCE_DIR}/schemas/qsim_encodings.fbs)
set(QSIM_ENCODINGS_FBS_HEADER ${QSIM_GENERATED_DIR}/qsim_encodings_generated.h)

add_custom_command(
  OUTPUT ${QSIM_ENCODINGS_FBS_HEADER}
  COMMAND ${FLATC_EXECUTABLE} --cpp --scoped-enums -o ${QSIM_GENERATED_DIR} ${QSIM_ENCODINGS_SCHEMA}
  DEPENDS ${QSIM_ENCODINGS_SCHEMA}
  COMMENT "flatc: generating qsim_encodings_generated.h"
  VERBATIM)
add_custom_target(qsim_encodings_fbs_header DEPENDS ${QSIM_ENCODINGS_FBS_HEADER})

# Makes `target` build after the header is generated and see it on its include path.
function(qsim_use_encodings_fbs_header target)
  add_dependencies(${target} qsim_encodings_fbs_header)
  target_include_directories(${target} SYSTEM PRIVATE ${QSIM_GENERATED_DIR})
endfunction()
