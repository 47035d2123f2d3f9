"""course.grading.wire: what crosses from a learner's kernel to the trusted grader.

A round trip must keep every kind of plain value exactly (type, dtype, shape, numbers), and
reading bytes a hostile kernel wrote must either give plain data or raise ``WireError``: never
run code, never read outside the bytes, never allocate what the header merely claims.
"""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from course.grading import wire


def _same(a, b) -> None:
    """``a`` and ``b`` are the same plain value: same types all the way down, same numbers."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=0)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    else:
        assert a == b or (a != a and b != b)   # NaN is itself


ARRAY = np.arange(12, dtype=np.float64).reshape(3, 4)


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2**80, 1.5, float("nan"), float("inf"), "text", "",
    np.float64(3.25), np.float32(-1.5), np.float16(0.5), np.int32(4), np.int8(-3), np.uint8(250), np.bool_(True),
    np.array(5.0), ARRAY, ARRAY.T, ARRAY[:, ::2], np.asfortranarray(ARRAY), ARRAY.astype(">f8"),
    np.zeros((0, 3)), np.array([True, False]), np.arange(5, dtype=np.int64), np.ones(4, dtype=np.float32),
    torch.ones(2, 3, requires_grad=True), torch.tensor(3), torch.arange(4, dtype=torch.int32),
    torch.zeros(0), torch.tensor([True, False]),
    [1, [2.0, (np.ones(2), "x")]], (ARRAY, {"W1": ARRAY, "b1": np.zeros(4)}), {"loss": 2.5, "grads": {}},
], ids=repr)
def test_a_round_trip_keeps_every_plain_value_exactly(value):
    back = wire.roundtrip(value)
    if isinstance(value, np.ndarray) and value.dtype.byteorder == ">":   # comes back in the machine's order
        assert back.dtype == value.dtype.newbyteorder("=")
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        _same(value, back)


def test_arrays_come_back_as_their_own_writable_copies():
    back = wire.unpack(wire.pack({"a": ARRAY}))["a"]
    assert back.flags.writeable and back.flags.owndata
    back[0, 0] = 99.0   # no error, and the next unpack is unaffected
    assert wire.unpack(wire.pack({"a": ARRAY}))["a"][0, 0] == 0.0


@pytest.mark.parametrize("value, what", [
    (np.array([object(), 1], dtype=object), "object"),
    (np.array([1 + 2j]), "complex"),
    (np.array(["a", "b"]), "<U1"),
    ((i for i in range(3)), "generator"),
    (torch.ones(2, dtype=torch.complex64), "complex"),
])
def test_what_is_not_plain_data_arrives_as_unreadable_and_says_what_it_was(value, what):
    back = wire.roundtrip(value)
    assert isinstance(back, wire.Unreadable)
    assert what in back.what


def _forged(structure, arrays: dict, body: bytes = b"") -> bytes:
    """Bytes in the wire's layout with a header of our choosing (what a hostile kernel could write)."""
    header = json.dumps({"structure": structure, "arrays": arrays}).encode()
    return wire.MAGIC + struct.pack("<Q", len(header)) + header + body


@pytest.mark.parametrize("data, message", [
    (b"", "header"),
    (b"PK\x03\x04 a zip archive", "header"),
    (wire.pack(ARRAY)[:-8], "outside"),                                              # cut short in the arrays
    (wire.MAGIC + struct.pack("<Q", 10**6) + b"{}", "cut short"),                     # header longer than the bytes
    (_forged({"ndarray": "a0"}, {"a0": ["|O8", [1], 0, 8]}, b"\0" * 8), "dtype"),     # object array: a pickle
    (_forged({"ndarray": "a0"}, {"a0": ["<c16", [1], 0, 16]}, b"\0" * 16), "dtype"),
    (_forged({"ndarray": "a0"}, {"a0": ["|V8", [1], 0, 8]}, b"\0" * 8), "dtype"),
    (_forged({"ndarray": "a0"}, {"a0": ["[('a', 'O')]", [1], 0, 8]}, b"\0" * 8), "dtype"),
    (_forged({"ndarray": "a0"}, {"a0": ["<f8", [10**9], 0, 8 * 10**9]}, b"\0" * 8), "outside"),  # claims 8 GB
    (_forged({"ndarray": "a0"}, {"a0": ["<f8", [2], 0, 8]}, b"\0" * 16), "do not make"),
    (_forged({"ndarray": "a0"}, {"a0": ["<f8", [-1], 0, -8]}, b"\0" * 8), "do not make"),
    (_forged({"ndarray": "a0"}, {"a0": ["<f8", [1], 8, 8]}, b"\0" * 8), "outside"),
    (_forged({"ndarray": "a9"}, {}), "a9"),                                           # names an array it lacks
    (_forged({"pickle": "cos\nsystem\n"}, {}), "unexpected"),
    (_forged(json.loads("[" * 30 + "]" * 30), {}), "deeply"),
])
def test_bytes_that_are_not_a_packed_value_raise_wire_error(data, message):
    with pytest.raises(wire.WireError, match=message):
        wire.unpack(data)


def test_an_answer_over_the_size_cap_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr(wire, "MAX_BYTES", 1000)
    with pytest.raises(wire.WireError, match="MiB"):
        wire.unpack(wire.pack(np.zeros(200)))
