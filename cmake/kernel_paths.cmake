# The kernel paths (src/util/cpu_isa.h): code compiled once per path, each copy in a namespace
# of its own (src/util/isa_namespace.h) and with that path's instruction set; the path is
# chosen at run time from CPUID and capped by QSIM_MAX_ISA.
#
# Use: include() this file, then qsim_add_path_objects(<prefix> <sources>...) makes one OBJECT
# library <prefix>_<path> per path and sets <prefix>_OBJECTS to their objects, baseline first.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(QSIM_X86_KERNEL_PATHS 1)
  # x86-64-v3 is AVX2 + FMA + BMI1/2 + F16C + LZCNT + MOVBE; x86-64-v4 adds AVX-512
  # F/BW/CD/DQ/VL (GCC 11, Clang 12). util/cpu_isa.cpp checks the same features (and that
  # the OS saves the registers) before taking a path.
  set(QSIM_KERNEL_PATHS baseline avx2 avx512)
  set(QSIM_PATH_FLAGS_baseline "")
  set(QSIM_PATH_FLAGS_avx2 -march=x86-64-v3 -mtune=haswell)
  set(QSIM_PATH_FLAGS_avx512 -march=x86-64-v4 -mtune=generic -mprefer-vector-width=512)
else()
  set(QSIM_X86_KERNEL_PATHS 0)
  set(QSIM_KERNEL_PATHS baseline)
  set(QSIM_PATH_FLAGS_baseline "")
endif()

# Baseline first: where the copies of a path share an inline function or template outside
# their namespace (one of the standard library's), the linker keeps the first copy it meets,
# and the baseline one runs on every CPU. tests/isa checks under qemu that no path runs an
# instruction its CPU lacks.
function(qsim_add_path_objects prefix)
  set(objects)
  foreach(path IN LISTS QSIM_KERNEL_PATHS)
    add_library(${prefix}_${path} OBJECT ${ARGN})
    target_compile_definitions(${prefix}_${path} PRIVATE QSIM_ISA_NS=isa_${path}
                               QSIM_ISA_PATH_NAME="${path}")
    target_compile_options(${prefix}_${path} PRIVATE ${QSIM_PATH_FLAGS_${path}})
    list(APPEND objects $<TARGET_OBJECTS:${prefix}_${path}>)
  endforeach()
  set(${prefix}_OBJECTS ${objects} PARENT_SCOPE)
endfunction()
