"""The binding's cdef against the installed header (found through pkg-config, as the library).

cffi parses the header itself (once its preprocessor lines are dropped), so the comparison
needs no C compiler: every QSIM_API function must be in the cdef with the same signature, every
struct must have the same size, alignment and fields, every enumerator the same value."""
import pathlib
import re
import subprocess
import tomllib

import cffi
import pytest

import qsim
from qsim import _cdef, _native


def installed_header():
    include_dir = subprocess.run(["pkg-config", "--variable=includedir", "qsim"], check=True,
                                 capture_output=True, text=True).stdout.strip()
    with open(f"{include_dir}/qsim/qsim.h", encoding="utf-8") as header:
        return header.read()


def header_functions(header):
    """Names of the header's QSIM_API functions."""
    return set(re.findall(r"QSIM_API[^;(]*?\b(qsim_\w+)\s*\(", header))


def cdef_functions():
    """Names of the functions the binding's cdef declares."""
    return set(re.findall(r"^\w[\w *]*?\b(qsim_\w+)\(", _cdef.CDEF, flags=re.M))


def header_as_cdef(header):
    """The header as cffi reads it: comments, C++-only blocks and preprocessor lines gone (but
    integer constants such as QSIM_MAX_RANK, which array sizes use), its macros erased."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", header, flags=re.S)
    text = re.sub(r"#ifdef __cplusplus.*?#endif", " ", text, flags=re.S)
    text = text.replace("\\\n", " ")
    lines = [line for line in text.splitlines()
             if not line.lstrip().startswith("#") or re.match(r"\s*#define \w+ \d+\s*$", line)]
    return re.sub(r"\bQSIM_API\b|\bQSIM_ENUM_BASE\b", " ", "\n".join(lines))


def layout(ffi, struct):
    ctype = ffi.typeof(struct)
    return (ffi.sizeof(ctype), ffi.alignof(ctype),
            [(name, field.offset, field.type.cname) for name, field in ctype.fields])


def abi_differences(header):
    """How the binding's cdef differs from `header`: [] when they agree."""
    reference = cffi.FFI()
    reference.cdef(header_as_cdef(header))
    ours = _native.ffi
    problems = [f"function {name} is missing from the binding's cdef"
                for name in sorted(header_functions(header) - cdef_functions())]
    reference_lib = reference.dlopen(qsim.library_path())
    for name in sorted(header_functions(header) & cdef_functions()):
        theirs = reference.typeof(getattr(reference_lib, name)).cname
        mine = ours.typeof(getattr(_native.lib(), name)).cname
        if theirs != mine:
            problems.append(f"function {name}: header {theirs}, binding {mine}")
    for name in re.findall(r"typedef struct (\w+)\s*\{", header):
        if layout(reference, name) != layout(ours, name):
            problems.append(f"struct {name}: header {layout(reference, name)}, "
                            f"binding {layout(ours, name)}")
    for name in re.findall(r"typedef enum (\w+)", header):
        theirs, mine = reference.typeof(name).relements, ours.typeof(name).relements
        if theirs != mine:
            problems.append(f"enum {name}: header {theirs}, binding {mine}")
    return problems


def test_the_binding_declares_the_installed_header():
    header = installed_header()
    assert len(header_functions(header)) >= 35  # the parse found the header's functions
    assert abi_differences(header) == []


def test_the_check_sees_a_missing_function_a_moved_field_a_changed_signature_and_value():
    header = installed_header()
    changed = header.replace("QSIM_API void qsim_free(void* pointer);",
                             "QSIM_API void qsim_free(void* pointer);\n"
                             "QSIM_API int32_t qsim_added_later(void);")
    # The first field of qsim_options after struct_size (comments may change: match code).
    changed = re.sub(r"(uint32_t struct_size;[^\n]*\n)(  int32_t num_threads;)",
                     r"\1  int32_t inserted;\n\2", changed, count=1)
    changed = changed.replace("qsim_io_count(const qsim_session* session, qsim_io_kind kind,\n"
                              "                                   size_t* out_count)",
                              "qsim_io_count(const qsim_session* session, qsim_io_kind kind,\n"
                              "                                   int32_t* out_count)")
    changed = changed.replace("QSIM_ERR_CALLBACK = 12", "QSIM_ERR_CALLBACK = 13")
    assert changed.count("inserted") == 1 and "int32_t* out_count" in changed, \
        "the header's text changed: update the edits above"
    problems = "\n".join(abi_differences(changed))
    assert "function qsim_added_later is missing" in problems
    assert "struct qsim_options:" in problems
    assert "function qsim_io_count:" in problems
    assert "enum qsim_status:" in problems


def test_the_binding_is_for_the_installed_header_version():
    header = installed_header()
    major = int(re.search(r"#define QSIM_VERSION_MAJOR (\d+)", header).group(1))
    minor = int(re.search(r"#define QSIM_VERSION_MINOR (\d+)", header).group(1))
    assert (_cdef.HEADER_MAJOR, _cdef.HEADER_MINOR) == (major, minor)
    with open(pathlib.Path(__file__).parents[1] / "pyproject.toml", "rb") as project:
        assert tomllib.load(project)["project"]["version"].startswith(f"{major}.{minor}.")


@pytest.mark.parametrize("name", sorted(cdef_functions()))
def test_the_library_exports_every_declared_function(name):
    assert getattr(_native.lib(), name) is not None
