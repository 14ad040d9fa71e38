#!/usr/bin/env python3
"""Prints the ABI of qsim's public header and shared library as text, one fact a line:

  version MAJOR.MINOR.PATCH            (QSIM_VERSION_* of the header)
  struct NAME size N align A           (sizeof / alignof, as the C compiler lays it out)
  field NAME.FIELD offset N size M     (offsetof / sizeof of every field)
  enum NAME.ENUMERATOR = V             (the compiled value)
  function <prototype>                 (every QSIM_API declaration, whitespace normalised)
  symbol NAME                          (every qsim_* symbol the library exports)

The structs, fields, enums and functions are read from the header itself, so the snapshot
covers whatever it declares; the numbers come from compiling a program against it.

Usage: abi_snapshot.py HEADER_DIR LIBRARY [CC]
"""
import os
import re
import subprocess
import sys
import tempfile


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def structs(text):
    found = []
    for name, body, alias in re.findall(r"typedef struct (\w+)\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        fields = []
        for declaration in body.split(";"):
            declaration = declaration.strip()
            if not declaration:
                continue
            match = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", declaration)
            if match is None:
                sys.exit(f"abi_snapshot: cannot read field '{declaration}' of struct {name}")
            fields.append(match.group(1))
        found.append((alias, fields))
    return found


def enums(text):
    found = []
    for body, alias in re.findall(r"typedef enum \w+[^{]*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        names = [item.split("=")[0].strip() for item in body.split(",") if item.strip()]
        found.append((alias, names))
    return found


def functions(text):
    found = []
    for declaration in re.findall(r"QSIM_API\s+([^;]*\))\s*;", text, re.S):
        found.append(" ".join(declaration.split()))
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    header_dir, library = sys.argv[1], sys.argv[2]
    cc = sys.argv[3] if len(sys.argv) > 3 else "cc"
    with open(os.path.join(header_dir, "qsim", "qsim.h")) as f:
        text = strip_comments(f.read())
    program = ["#include <stddef.h>", "#include <stdio.h>", "#include <stdalign.h>",
               "#include <qsim/qsim.h>", "int main(void) {",
               'printf("version %d.%d.%d\\n", QSIM_VERSION_MAJOR, QSIM_VERSION_MINOR, '
               "QSIM_VERSION_PATCH);"]
    for name, fields in structs(text):
        program.append(f'printf("struct {name} size %zu align %zu\\n", sizeof({name}), '
                       f"alignof({name}));")
        for field in fields:
            program.append(f'printf("field {name}.{field} offset %zu size %zu\\n", '
                           f"offsetof({name}, {field}), sizeof((({name}*)0)->{field}));")
    for name, enumerators in enums(text):
        for enumerator in enumerators:
            program.append(f'printf("enum {name}.{enumerator} = %lld\\n", (long long){enumerator});')
    program += ["return 0;", "}"]
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "abi.c")
        binary = os.path.join(work, "abi")
        with open(source, "w") as f:
            f.write("\n".join(program) + "\n")
        subprocess.run([cc, "-std=c11", "-I", header_dir, source, "-o", binary], check=True)
        print(subprocess.run([binary], check=True, capture_output=True, text=True).stdout, end="")
    for function in functions(text):
        print("function " + function)
    symbols = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                             capture_output=True, text=True).stdout
    for name in sorted({line.split()[-1] for line in symbols.splitlines()
                        if line.split() and line.split()[-1].startswith("qsim_")}):
        print("symbol " + name)


if __name__ == "__main__":
    main()
