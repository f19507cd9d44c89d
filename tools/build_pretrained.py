"""Build ``src/kobai/pretrained/deep_convnet.npz`` from the book's trained DeepConvNet.

The source is the book's ``weights-2016/deep_convnet_params.pkl`` (Deep Learning from Scratch,
the first commit of its repository; MIT License, Copyright (c) 2016 Koki Saitoh), checked by
its SHA-256 (``kobai.pretrained.SOURCE_SHA256``) and read with
``DeepConvNet.load_params``, which never unpickles (``kobai.arrays_file.read_arrays``) and
converts the book's dropout to kobai's inverted one. The network is float32 and saved with
:func:`kobai.io.save`, recording ``kobai.pretrained.TRAINED_ON`` as its data; the zip members
are then rewritten in the same order with a fixed date, so the same pickle, kobai version and
NumPy give the same bytes. The checkpoint records the kobai version that wrote it, so a new
version rebuilds it (and ``--check`` says so until then).

Usage::

    python tools/build_pretrained.py [--source PATH] [--out PATH]   # (re)write the file
    python tools/build_pretrained.py --check   # exit 1 unless a rebuild equals the packaged file
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from kobai import pretrained
from kobai.io import load, save
from kobai.nets import DeepConvNet

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "dlfs" / pretrained.SOURCE
DEFAULT_OUT = ROOT / "src" / "kobai" / "pretrained" / pretrained.FILE
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can hold


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pinned_zip(data: bytes) -> bytes:
    """The archive ``data`` rewritten member by member, in order, with a fixed date, fixed
    permissions and system, uncompressed: only the content is left to vary."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for member in src.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, whatever the platform that builds it
            dst.writestr(info, src.read(member))
    return out.getvalue()


def build(source: Path) -> bytes:
    """The packaged file's bytes, from the book's pickle at ``source``."""
    digest = sha256(source)
    if digest != pretrained.SOURCE_SHA256:
        raise SystemExit(f"{source} has SHA-256 {digest}; the book's {pretrained.SOURCE} has "
                         f"{pretrained.SOURCE_SHA256}")
    net = DeepConvNet(dtype=np.float32, rng=0)  # the book's architecture; rng: any, overwritten
    net.load_params(source)
    with tempfile.TemporaryDirectory() as tmp:
        saved = save(net, Path(tmp) / pretrained.FILE, data=pretrained.TRAINED_ON)
        data = pinned_zip(saved.read_bytes())
        check = Path(tmp) / "pinned.npz"
        check.write_bytes(data)
        back = load(check)
    read_back = back.net.state_dict()
    for key, arr in net.state_dict().items():  # what is read back is what was converted
        got = read_back[key]
        if got.dtype != np.float32 or not np.array_equal(got, arr):
            raise SystemExit(f"{key} does not read back as saved")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help=f"the book's pickle (default: {DEFAULT_SOURCE})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write the checkpoint (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 unless the rebuild equals --out byte for "
                             "byte")
    args = parser.parse_args(argv)
    data = build(args.source)
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        same = args.out.is_file() and args.out.read_bytes() == data
        print(f"{args.out}: {'equal to' if same else 'DIFFERS from'} the rebuild from "
              f"{args.source} ({len(data):,} bytes, SHA-256 {digest})")
        if not same:
            print(f"rebuild it with: python {Path(__file__).relative_to(ROOT)}",
                  file=sys.stderr)
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes, SHA-256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
