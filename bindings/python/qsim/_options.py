"""Keyword arguments -> qsim's options structs. The fields are read from the cdef, so every
field the struct has is a keyword; names stand for enum values."""
import os

from ._errors import check
from ._native import ffi, lib


def enum_names(ctype, prefix):
    """{lower-case name without prefix: value} of an enum, e.g. "adaquant" for QSIM_ADAQUANT."""
    return {name[len(prefix):].lower(): value
            for name, value in ffi.typeof(ctype).relements.items()
            if name.startswith(prefix) and not name.endswith("_FORCE_INT32")}


def _by_name(table, what):
    def convert(value, _alive):
        try:
            return table[value]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {what} {value!r}; the names are: "
                             + ", ".join(sorted(table))) from None
    return convert


def _by_c_name(function, ctype):
    """A converter through one of qsim's *_from_name calls (its error lists the names)."""
    def convert(value, _alive):
        out = ffi.new(ctype + "*")
        check(getattr(lib(), function)(value.encode(), out))
        return out[0]
    return convert


def _string(encode):
    def convert(value, alive):
        if value is None:
            return ffi.NULL
        text = ffi.new("char[]", encode(value))
        alive.append(text)
        return text
    return convert


def _formats(value, _alive):
    """A format name or a collection of them, OR-ed into qsim_export_format bits."""
    names = [value] if isinstance(value, str) else list(value)
    table = enum_names("qsim_export_format", "QSIM_EXPORT_")
    bits = 0
    for name in names:
        bits |= _by_name(table, "export format")(name, None)
    return bits


_calibration_method = _by_c_name("qsim_calibration_method_from_name", "qsim_calibration_method")
_target = _by_c_name("qsim_target_from_name", "qsim_target")

SESSION = {
    "config_path": _string(os.fsencode),
    "config_json": _string(str.encode),
    "activation_calibration": _calibration_method,
    "weight_calibration": _calibration_method,
    "nan_policy": _by_name(enum_names("qsim_nan_policy", "QSIM_NAN_"), "nan_policy"),
    "target": _target,
    "emulate": _target,
}
ADAROUND = {
    "mode": _by_name(enum_names("qsim_adaround_mode", "QSIM_"), "mode"),
}
EXPORT = {
    "formats": _formats,
    "basename": _string(str.encode),
    "qdq_wide_form": _by_name(enum_names("qsim_qdq_wide_form", "QSIM_QDQ_WIDE_"),
                              "qdq_wide_form"),
}


def make(ctype, values, converters):
    """A new `ctype` struct with qsim's defaults (ctype_init(&o, sizeof o)) and `values` set.
    Returns (struct, alive): alive holds the strings the struct points at."""
    struct = ffi.new(ctype + "*")
    check(getattr(lib(), ctype + "_init")(struct, ffi.sizeof(ctype)))
    fields = [name for name, _ in ffi.typeof(ctype).fields if name != "struct_size"]
    alive = []
    for key, value in values.items():
        if key not in fields:
            raise TypeError(f"unknown option {key!r} for {ctype}; the options are: "
                            + ", ".join(fields))
        convert = converters.get(key)
        setattr(struct, key, convert(value, alive) if convert else value)
    return struct, alive
