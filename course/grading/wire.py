"""Plain data across the line between a learner's kernel and the trusted grader.

Everything a check learns about learner code comes back through ``pack``/``unpack``: numbers,
strings, None, lists, tuples, dicts with string keys, numpy arrays and torch tensors (numeric or
bool dtypes only). The bytes are a short header, the structure as JSON (each array named by
its dtype, shape and place), then the arrays' raw bytes. Reading them parses JSON and copies
numbers out of a buffer whose dtype must be a plain numeric or bool one (``<f8``, ``|b1``, ...):
nothing is unpickled or evaluated, so reading can never run code; it is size-capped. (An
``.npz`` file did the same job at five times the cost: a zip archive per probe, on both sides.)

In the student's notebook the checks pass every value through the same round trip
(``roundtrip``), so a check sees exactly the same kinds of values in both places: what a
learner's object cannot be turned into (an object whose ``==`` is always True, a generator, ...)
arrives as an ``Unreadable`` that names its type, and compares as nothing.

Used by: ``course.grading`` (both sides), ``course.autograde.remote``.
"""
from __future__ import annotations

import json
import re
import struct
from typing import Any

import numpy as np

MAX_BYTES = 64 * 2**20     # what the grader reads at most from one answer
MAX_DEPTH = 8
MAGIC = b"course-wire/2\n"
DTYPE = re.compile(r"[<>|][biuf][1-8]")   # the only dtypes an array may be read as


class Unreadable:
    """A value that could not be sent as plain data; ``what`` names it (``"an object of type X"``)."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<unreadable: {self.what}>"


class WireError(ValueError):
    """The bytes are not a packed value (corrupt, too large or too deep)."""


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "dtype")


def pack(value: Any) -> bytes:
    """``value`` as bytes (see the module docstring); what cannot be sent becomes ``Unreadable``."""
    from course import check

    arrays: dict[str, np.ndarray] = {}

    def array(a: np.ndarray) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = a
        return key

    def enc(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return {"unreadable": "a value nested too deeply"}
        if v is None or isinstance(v, (bool, str)):
            return v if not isinstance(v, str) else v[:10_000]
        if isinstance(v, (int, float)) and type(v) in (int, float):
            return v if type(v) is float else {"int": str(v)}
        try:
            if _is_tensor(v):
                t = v.detach().cpu()
                dtype = str(t.dtype)
                if t.is_complex():
                    return {"unreadable": check.describe(v)}
                if t.dtype.is_floating_point and t.dtype not in (_torch().float32, _torch().float64):
                    t = t.float()
                return {"tensor": array(np.array(t.numpy(), subok=False)), "dtype": dtype,
                        "requires_grad": bool(v.requires_grad)}
            if isinstance(v, np.ndarray):
                if v.dtype == object or not (np.issubdtype(v.dtype, np.number) or v.dtype == bool) \
                        or np.iscomplexobj(v):
                    return {"unreadable": check.describe(v)}
                return {"ndarray": array(np.array(v, subok=False))}
            if isinstance(v, (np.number, np.bool_)):
                return {"scalar": array(np.array(v))}
            if type(v) in (list, tuple):
                items = [enc(x, depth + 1) for x in v[:100_000]]
                return items if type(v) is list else {"tuple": items}
            if type(v) is dict and all(type(k) is str for k in v):
                return {"dict": [[k, enc(x, depth + 1)] for k, x in v.items()]}
        except Exception:  # noqa: BLE001 - a hostile object: it is just unreadable
            pass
        try:
            what = check.describe(v)
        except Exception:  # noqa: BLE001
            what = "an object that cannot be described"
        return {"unreadable": what}

    structure = enc(value, 0)
    blobs, places, offset = [], {}, 0
    for key, a in arrays.items():   # tobytes(): C order, whatever the array's own layout
        if a.dtype.str.startswith(">"):
            a = a.astype(a.dtype.newbyteorder("<"))
        blobs.append(a.tobytes())
        places[key] = [a.dtype.str, list(a.shape), offset, a.nbytes]
        offset += a.nbytes
    header = json.dumps({"structure": structure, "arrays": places}).encode()
    return b"".join([MAGIC, struct.pack("<Q", len(header)), header, *blobs])


def _arrays(data: bytes) -> tuple[Any, dict[str, np.ndarray]]:
    """The structure and the arrays of ``pack``'s bytes; ``ValueError`` when they are not that."""
    if not data.startswith(MAGIC):
        raise ValueError("it does not start with the wire's header")
    start = len(MAGIC) + 8
    (length,) = struct.unpack_from("<Q", data, len(MAGIC))
    if start + length > len(data):
        raise ValueError("it is cut short")
    header = json.loads(data[start:start + length].decode())
    body = memoryview(data)[start + length:]
    arrays = {}
    for key, (dtype, shape, offset, nbytes) in header["arrays"].items():
        if not (isinstance(dtype, str) and DTYPE.fullmatch(dtype)):
            raise ValueError(f"array {key} has the dtype {str(dtype)[:20]!r}; only numbers and bools are read")
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in shape) or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
            raise ValueError(f"array {key}: {nbytes} bytes do not make a {dtype} array of shape {shape}")
        if not (isinstance(offset, int) and 0 <= offset and offset + nbytes <= len(body)):
            raise ValueError(f"array {key} lies outside the bytes")
        arrays[key] = np.frombuffer(body, dtype=dtype, count=nbytes // dtype.itemsize,
                                    offset=offset).reshape(shape).copy()
    return header["structure"], arrays


def unpack(data: bytes) -> Any:
    """The value ``pack`` made (tensors come back as torch tensors); raises ``WireError``."""
    if len(data) > MAX_BYTES:
        raise WireError(f"the answer is {len(data) / 2**20:.0f} MiB, more than the {MAX_BYTES >> 20} MiB allowed")
    try:
        structure, arrays = _arrays(bytes(data))
    except Exception as err:  # noqa: BLE001
        raise WireError(f"not a packed value ({type(err).__name__}: {err})") from None

    def stored(key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in arrays:
            raise WireError(f"names an array it does not hold: {str(key)[:20]}")
        return arrays[key]

    def dec(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH + 1:
            raise WireError("nested too deeply")
        if v is None or isinstance(v, (bool, str, float)):
            return v
        if isinstance(v, list):
            return [dec(x, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise WireError(f"unexpected item {str(v)[:50]}")
        if "int" in v:
            return int(v["int"])
        if "tuple" in v:
            return tuple(dec(x, depth + 1) for x in v["tuple"])
        if "dict" in v:
            return {str(k): dec(x, depth + 1) for k, x in v["dict"]}
        if "ndarray" in v:
            return stored(v["ndarray"])
        if "scalar" in v:
            return stored(v["scalar"])[()]
        if "tensor" in v:
            torch = _torch()
            t = torch.from_numpy(np.array(stored(v["tensor"])))
            dtype = getattr(torch, str(v.get("dtype", "")).replace("torch.", ""), None)
            if isinstance(dtype, torch.dtype) and dtype != t.dtype:
                t = t.to(dtype)
            return t.requires_grad_(True) if v.get("requires_grad") and t.is_floating_point() else t
        if "unreadable" in v:
            return Unreadable(str(v["unreadable"]))
        raise WireError(f"unexpected item {str(v)[:50]}")

    return dec(structure, 0)


def roundtrip(value: Any) -> Any:
    """``unpack(pack(value))``: what the grader would see of ``value``."""
    return unpack(pack(value))


def _torch():
    import torch

    return torch
