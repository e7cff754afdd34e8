"""Read and write safetensors files of torch tensors without pip's package.

nngen's weight files are safetensors: an 8-byte little-endian header
length, a JSON header mapping each tensor's name to its dtype, shape and byte
range, then the raw little-endian data. PyTorch users usually read and
write them with pip's `safetensors` package, which Debian does not ship
(there is no python3-safetensors). This module needs only torch and the
standard library; copy it beside your training script, or put this
directory on sys.path.

    from nngen_safetensors import save_file, load_file
    save_file(net.state_dict(), "convnet.safetensors")   # for nngen -weights, LoadWeights
    net.load_state_dict(load_file("trained.safetensors"))  # from nngen's SaveWeights

save_file and load_file take the same arguments as safetensors.torch's. The
files written are what nngen writes: "__metadata__" first with
"format": "pt", tensors in the order given, the header padded with spaces to
a multiple of 8 bytes. load_file is strict, as nngen is: byte ranges must
tile the data exactly, each must hold its shape's bytes, and nothing may
follow the data.
"""
import json
import struct
import sys

import torch

if sys.byteorder != "little":
    raise ImportError("nngen_safetensors reads and writes the data as this machine holds it, which must be little-endian")

__all__ = ["save", "save_file", "load", "load_file"]

# safetensors dtype names and the torch dtypes they hold.
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}

MAX_HEADER_BYTES = 100 << 20  # as nngen's runtime.MaxHeaderBytes


def save(tensors, metadata=None):
    """Return the safetensors bytes of a dict of tensors (name -> tensor)."""
    header = {"__metadata__": {"format": "pt"}}
    for k, v in sorted((metadata or {}).items()):
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError("metadata must map strings to strings")
        if k != "format":
            header["__metadata__"][k] = v
    off = 0
    blobs = []
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError("%s is a %s, not a tensor" % (name, type(t).__name__))
        if t.dtype not in _NAMES:
            raise ValueError("%s has dtype %s, which safetensors does not hold" % (name, t.dtype))
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits
            t = t.view(torch.int16)
        b = t.numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def save_file(tensors, filename, metadata=None):
    """Write a dict of tensors (a state_dict) to filename as safetensors."""
    data = save(tensors, metadata)
    with open(filename, "wb") as f:
        f.write(data)


def load(data):
    """Return the dict of tensors (name -> tensor) held by safetensors bytes."""
    if len(data) < 8:
        raise ValueError("%d bytes, too short for the 8-byte header length" % len(data))
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise ValueError("header length %d does not fit a file of %d bytes (at most %d)" % (n, len(data), MAX_HEADER_BYTES))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    base = 8 + n
    ranges = []
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if set(meta) != {"dtype", "shape", "data_offsets"}:
            raise ValueError("tensor %r: fields %s, want dtype, shape and data_offsets" % (name, sorted(meta)))
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError("tensor %r: unknown dtype %r" % (name, meta["dtype"]))
        lo, hi = meta["data_offsets"]
        shape = meta["shape"]
        count = 1
        for d in shape:
            count *= d
        size = torch.tensor([], dtype=dtype).element_size()
        if hi - lo != count * size or lo < 0 or base + hi > len(data):
            raise ValueError("tensor %r: bytes [%d, %d) do not hold shape %s of %s" % (name, lo, hi, shape, meta["dtype"]))
        ranges.append((lo, hi, name))
        raw = bytearray(data[base + lo:base + hi])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape).clone()
    at = 0
    for lo, hi, name in sorted(ranges):
        if lo != at:
            raise ValueError("tensor %r starts at byte %d of the data, want %d (a gap or an overlap)" % (name, lo, at))
        at = hi
    if base + at != len(data):
        raise ValueError("%d bytes after the data section" % (len(data) - base - at))
    return out


def load_file(filename):
    """Read the dict of tensors (a state_dict) from a safetensors file."""
    with open(filename, "rb") as f:
        return load(f.read())
