"""List the GPU code in a CUDA module's fat binary: machine code (SASS, ``sm_XX``) and PTX (``compute_XX``).

What ``cuobjdump --list-elf --list-ptx`` tells, for toolkits without cuobjdump: reads the ``.nv_fatbin`` section of
the ELF file and walks its entries (each: kind 1 = PTX, 2 = ELF, the SM version at byte 28 of the entry header).
tools/build_wheel.sh --cuda uses it to check genmetrics._cuda: sm_80 and sm_90 machine code, compute_90 PTX.

usage: python tools/fatbin_archs.py MODULE.so [EXPECTED ...]     (e.g. sm_80 sm_90 compute_90: exit 1 if one is absent)
"""

from __future__ import annotations

import struct
import sys

FATBIN_MAGIC = 0xBA55ED50


def section(data: bytes, name: bytes) -> bytes:
    """The bytes of the named section of a 64-bit little-endian ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("fatbin_archs.py: not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = headers[shstrndx]
    for h in headers:
        start = names[4] + h[0]
        if data[start : data.index(b"\0", start)] == name:
            return data[h[4] : h[4] + h[5]]
    raise SystemExit(f"fatbin_archs.py: no {name.decode()} section (no GPU code)")


def entries(fatbin: bytes):
    """(kind, sm) of every entry of every fat binary in the section."""
    at = 0
    while at + 16 <= len(fatbin):
        magic, _version, header, size = struct.unpack_from("<IHHQ", fatbin, at)
        if magic != FATBIN_MAGIC:
            break
        entry, end = at + header, at + header + size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", fatbin, entry)
            (sm,) = struct.unpack_from("<I", fatbin, entry + 28)
            yield ("ptx" if kind == 1 else "elf" if kind == 2 else f"kind{kind}"), sm
            entry += entry_header + payload
        at = end


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.rsplit("usage: ", 1)[1], file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    found: dict[str, int] = {}
    for kind, sm in entries(section(data, b".nv_fatbin")):
        label = f"sm_{sm}" if kind == "elf" else f"compute_{sm}" if kind == "ptx" else f"{kind}_{sm}"
        found[label] = found.get(label, 0) + 1
    for label, count in sorted(found.items()):
        print(f"  {label:12} {count} entries ({'machine code' if label.startswith('sm_') else 'PTX'})")
    missing = [want for want in argv[2:] if want not in found]
    if missing:
        print(f"fatbin_archs.py: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
