#!/usr/bin/env python3
"""Writes the hostile inputs of issue 21 in this folder (protobuf and .npy bytes by hand, so
no onnx package is needed). Run it again after changing it; the files are committed.
  python3 tests/data/hostile/make_hostile.py [folder] [--chain]
--chain also writes reverse_chain.onnx (40000 Relu nodes listed backwards, 1.2 MB; not
committed: tests/core/test_hostile_limits.cpp builds it in memory)."""
import os
import struct
import sys

FLOAT, INT64 = 1, 7


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def value_info(name, elem_type=FLOAT, dims=None):
    tensor = field_varint(1, elem_type)
    if dims is not None:
        shape = b"".join(field_bytes(1, field_varint(1, d)) for d in dims)
        tensor += field_bytes(2, shape)
    return field_bytes(1, name) + field_bytes(2, field_bytes(1, tensor))


def node(op, name, inputs, outputs, attributes=b""):
    out = b"".join(field_bytes(1, i) for i in inputs)
    out += b"".join(field_bytes(2, o) for o in outputs)
    return out + field_bytes(3, name) + field_bytes(4, op) + attributes


def ints_attribute(name, values):
    body = field_bytes(1, name) + b"".join(field_varint(8, v) for v in values)
    return field_bytes(5, body + field_varint(20, 7))  # AttributeProto.INTS


def tensor(name, data_type, dims, int64_data=(), external=None):
    out = b"".join(field_varint(1, d) for d in dims) + field_varint(2, data_type)
    out += b"".join(field_varint(7, v) for v in int64_data)
    out += field_bytes(8, name)
    if external is not None:
        for key, value in external:
            out += field_bytes(13, field_bytes(1, key) + field_bytes(2, value))
        out += field_varint(14, 1)  # DataLocation.EXTERNAL
    return out


def model(nodes, inputs=(), outputs=(), initializers=(), opset=13):
    graph = b"".join(field_bytes(1, n) for n in nodes) + field_bytes(2, "g")
    graph += b"".join(field_bytes(5, t) for t in initializers)
    graph += b"".join(field_bytes(11, v) for v in inputs)
    graph += b"".join(field_bytes(12, v) for v in outputs)
    return field_varint(1, 8) + field_bytes(7, graph) + field_bytes(8, field_varint(2, opset))


def npy(header, version=1, claimed_length=None):
    if version == 1:
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", claimed_length) + header.encode()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    folder = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    files = {
        # 1. A node with no outputs.
        "zero_outputs.onnx": model([node("Add", "adder", ["X", "X"], [])],
                                   [value_info("X", dims=[2, 3])], [value_info("X", dims=[2, 3])]),
        # 2. Conv weights [2,2,0,0].
        "conv_empty_weight.onnx": model(
            [node("Conv", "conv0", ["X", "W"], ["Y"])], [value_info("X", dims=[1, 2, 4, 4])],
            [value_info("Y")], [tensor("W", FLOAT, [2, 2, 0, 0])]),
        # 4. Reshape to [2^62, 2^62]; Conv pads of 2^40.
        "reshape_overflow.onnx": model(
            [node("Reshape", "reshape0", ["X", "S"], ["Y"])], [value_info("X", dims=[2, 3])],
            [value_info("Y")], [tensor("S", INT64, [2], int64_data=[1 << 62, 1 << 62])]),
        "conv_huge_pads.onnx": model(
            [node("Conv", "conv0", ["X", "W"], ["Y"], ints_attribute("pads", [1 << 40] * 4))],
            [value_info("X", dims=[1, 1, 4, 4])], [value_info("Y")],
            [tensor("W", FLOAT, [1, 1, 1, 1], external=None) + field_bytes(9, b"\0\0\x80\x3f")]),
        # 5. A 2 GiB external tensor whose file is missing; a length of 1.5e9 on a 16-byte file.
        "external_missing.onnx": model(
            [node("Relu", "relu0", ["X"], ["Y"])], [value_info("X", dims=[1])],
            [value_info("Y", dims=[1])],
            [tensor("W", FLOAT, [1 << 29], external=[("location", "missing.bin")])]),
        "external_long.onnx": model(
            [node("Relu", "relu0", ["X"], ["Y"])], [value_info("X", dims=[1])],
            [value_info("Y", dims=[1])],
            [tensor("W", FLOAT, [375000000],
                    external=[("location", "small.bin"), ("length", "1500000000")])]),
        "small.bin": bytes(16),
        # 6. An offset that is not a number.
        "external_offset_abc.onnx": model(
            [node("Relu", "relu0", ["X"], ["Y"])], [value_info("X", dims=[1])],
            [value_info("Y", dims=[1])],
            [tensor("W", FLOAT, [4], external=[("location", "small.bin"), ("offset", "abc")])]),
        # 7. A path out of the folder.
        "external_escape.onnx": model(
            [node("Relu", "relu0", ["X"], ["Y"])], [value_info("X", dims=[1])],
            [value_info("Y", dims=[1])],
            [tensor("W", FLOAT, [4], external=[("location", "../hostile/small.bin")])]),
        # 10. ConstantOfShape [32768, 32768].
        "constant_of_shape.onnx": model(
            [node("ConstantOfShape", "fill", ["S"], ["Y"])], [], [value_info("Y")],
            [tensor("S", INT64, [2], int64_data=[32768, 32768])]),
        # 5. A .npy v2 header claiming 4 GB.
        "huge_header.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                               version=2, claimed_length=0xFFFFFFF0),
        # 11. 1e12 rows of no values.
        "zero_width.npy": npy("{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (1000000000000, 0), }"),
    }
    if "--chain" in sys.argv:
        n = 40000
        files["reverse_chain.onnx"] = model(
            [node("Relu", "n%d" % i, ["t%d" % i], ["t%d" % (i + 1)]) for i in reversed(range(n))],
            [value_info("t0", dims=[1])], [value_info("t%d" % n, dims=[1])])
        files["zero_input.onnx"] = model([node("Relu", "relu0", ["X"], ["Y"])],
                                         [value_info("X", dims=[-1, 0])], [value_info("Y")])
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
