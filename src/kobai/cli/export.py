"""``kobai export``: a trained network as ONNX, safetensors, PyTorch or a page to draw on."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._common import CliError, add_params_arguments, open_model, user_errors


def add_parser(sub) -> None:
    from ..export import FORMATS

    formats = ", ".join(f"{name} ({fmt.help})" for name, fmt in FORMATS.items())
    p = sub.add_parser("export", help="export a trained model: ONNX, safetensors, PyTorch, "
                                      "or a web page to draw a digit on",
                       usage="kobai export [-h] (MODEL | --pretrained | --params FILE "
                             "[--net NET ...]) --to FORMAT [--out FILE] [--dtype DTYPE] "
                             "[--force]",
                       description="Export a model for other tools: " + formats + ". The "
                                   "model is given as kobai evaluate takes it: a model.npz "
                                   "written by kobai train (or its run folder), the pretrained "
                                   "DeepConvNet (--pretrained), or a parameters file such as "
                                   "the book's trained-weight pickles (--params FILE --net "
                                   "NET). ONNX needs pip install \"kobai[onnx]\", PyTorch "
                                   "\"kobai[torch]\"; safetensors and the page need nothing.")
    p.add_argument("model", type=Path, metavar="MODEL", nargs="?",
                   help="a model.npz from kobai train, or the run folder holding it")
    p.add_argument("--pretrained", action="store_true",
                   help="the pretrained DeepConvNet (kobai.pretrained): the book's weights, "
                        "99.35%% on MNIST's test set")
    add_params_arguments(p)
    o = p.add_argument_group("output")
    o.add_argument("--to", required=True, choices=list(FORMATS), metavar="FORMAT",
                   help=f"one of {', '.join(FORMATS)}")
    o.add_argument("--out", type=Path, metavar="FILE",
                   help="the file to write (default: model.<suffix> beside MODEL; with "
                        "--pretrained or --params, in the current folder, named after the "
                        "model); --to torch also writes FILE with the suffix .py")
    o.add_argument("--dtype", choices=["float32", "float64"],
                   help="convert the parameters (default: the network's own; onnxruntime "
                        "has no float64 convolution)")
    o.add_argument("--force", action="store_true",
                   help="replace files that exist (refused otherwise)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export import FORMATS

    if args.model is None and args.params is None and not args.pretrained:
        raise CliError("give the model to export: MODEL (a model.npz or run folder), "
                       "--pretrained, or --params FILE --net NET")
    fmt = FORMATS[args.to]
    out = _out_path(args, fmt.suffix)
    found = open_model(args, args.model, pretrained=args.pretrained)
    dtype = None if args.dtype is None else np.dtype(args.dtype)
    with user_errors(f"cannot export {found.name} as {args.to}"):
        written = fmt.write(found.net, out, dtype=dtype, data=found.data)
    for path in written:
        print(f"wrote {path} ({_size(path.stat().st_size)})")
    if args.to == "torch":
        print(f"\nrebuild it in PyTorch with {written[-1]}:\n")
        print(written[-1].read_text(encoding="utf-8"))
    elif args.to == "html":
        print(f"open it in a browser: {written[0].resolve().as_uri()}")
    elif args.to == "onnx" and (dtype or found.net.dtype) == np.float64 and any(
            arr.ndim == 4 for arr in found.net.params.values()):
        print("note: onnxruntime has no float64 convolution; for onnxruntime, export with "
              "--dtype float32")
    return 0


def _out_path(args: argparse.Namespace, suffix: str) -> Path:
    """The file to write, checked before anything is loaded: not a folder, in a folder that
    exists, and (with the .py beside a torch export) not there yet unless --force."""
    if args.out is not None:
        out = args.out
        if out.is_dir():
            raise CliError(f"--out {out} is a folder; give the file to write, e.g. "
                           f"{out / ('model' + suffix)}")
    elif args.model is not None:
        model = args.model
        folder = model if model.is_dir() else model.parent
        out = folder / ((model.stem if not model.is_dir() else "model") + suffix)
    elif args.pretrained:
        out = Path("deep_convnet" + suffix)
    else:
        out = Path(args.params.stem + suffix)
    if not out.parent.is_dir():
        raise CliError(f"cannot write {out}: the folder {out.parent} does not exist")
    targets = [out, out.with_suffix(".py")] if args.to == "torch" else [out]
    if args.to == "torch" and out.suffix == ".py":
        raise CliError(f"--out {out}: --to torch writes the state_dict to FILE and the "
                       "Python that rebuilds the module to FILE with the suffix .py; give "
                       "FILE another suffix, e.g. .pt")
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.force:
        raise CliError(f"{' and '.join(existing)} already exist{'s' * (len(existing) == 1)}; "
                       "give another --out, or --force to replace")
    if any(t.is_dir() for t in targets):
        raise CliError(f"{' and '.join(str(t) for t in targets if t.is_dir())} is a folder")
    return out


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"
