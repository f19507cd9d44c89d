"""``kobai book run SCRIPT`` and ``kobai book list``: the book's own scripts on kobai."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..book.runner import DATASETS
from ..book.runner import run as run_script
from ..book.scripts import SCRIPTS, STATUSES
from ._common import non_negative_int, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("book", help="run the book's own scripts, unchanged, on kobai",
                       description="Run the chapter scripts of Deep Learning from Scratch "
                                   "unchanged on kobai.book, the book's modules built on "
                                   "kobai: cd into a chapter folder of a clone of the book's "
                                   "repository and 'kobai book run train_neuralnet.py'.")
    commands = p.add_subparsers(dest="book_command", metavar="{run,list}")
    r = commands.add_parser(
        "run", help="run one of the book's scripts on kobai.book",
        description="Run SCRIPT as 'python SCRIPT ...' would, in SCRIPT's own folder (the "
                    "book's scripts expect their chapter folder: 'kobai book run "
                    "ch03/neuralnet_mnist.py' from the book's root runs it in ch03), with "
                    "the book's 'common' and 'dataset' resolved to kobai.book for this run "
                    "only, kobai's data, pickles read and written without unpickling (a dict "
                    "of arrays only; written as kobai's .npz under the script's file name) "
                    "and figures that never block. kobai's options come before SCRIPT; "
                    "everything after it goes to the script.",
        epilog="example: cd dlfs/ch05 && kobai book run --seed 0 --save-figures figures "
               "train_neuralnet.py")
    r.add_argument("--dataset", choices=DATASETS, default="sample",
                   help="what load_mnist serves: sample, the 5,000 training and 10,000 test "
                        "images bundled with kobai (default), or mnist, the full set from "
                        "--data-dir or kobai's cache (downloaded when missing)")
    r.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="folder of the full MNIST's four IDX files, for --dataset mnist "
                        "(default: $KOBAI_HOME/datasets/mnist)")
    r.add_argument("--save-figures", type=Path, metavar="DIR",
                   help="use matplotlib's Agg backend and save every figure plt.show() would "
                        "show as DIR/<script>-01.png, -02.png, ... (created if needed; files "
                        "of an earlier run are overwritten). Without a display, figures are "
                        "not shown either way")
    r.add_argument("--seed", type=non_negative_int, metavar="N",
                   help="np.random.seed(N) before the script starts: the book's scripts seed "
                        "nothing; with a seed a run is reproducible and gives the numbers the "
                        "book's own code gives with that seed")
    r.add_argument("--book-common", action="store_true",
                   help="give the script the clone's own common/ (the book's code) and only "
                        "kobai's dataset: the book's numbers on the same data, to compare")
    r.add_argument("script", metavar="SCRIPT", help="the book's script, e.g. train_neuralnet.py")
    r.add_argument("script_args", nargs=argparse.REMAINDER, metavar="...",
                   help="arguments for the script")
    commands.add_parser("list", help="the book's scripts kobai book run was tested with",
                        description="List the scripts of the book's chapters 3-8 that import "
                                    "common or dataset, with what kobai book run does with "
                                    "them and how long they take on the bundled data.")
    p.set_defaults(run=run, book_parser=p)


def run(args: argparse.Namespace) -> int:
    if args.book_command == "run":
        with user_errors():
            return run_script(args.script, args.script_args, dataset=args.dataset,
                              data_dir=args.data_dir, save_figures=args.save_figures,
                              seed=args.seed, book_common=args.book_common)
    if args.book_command == "list":
        print_scripts()
        return 0
    args.book_parser.print_help()
    return 2


def print_scripts() -> None:
    """The table of :data:`kobai.book.scripts.SCRIPTS`, then what each status means."""
    width = max(len(s.path) for s in SCRIPTS)
    status_width = max(len(s.status) for s in SCRIPTS)
    print(f"{'script':<{width}}  {'status':<{status_width}}  {'time':>6}  note")
    for s in SCRIPTS:
        print(f"{s.path:<{width}}  {s.status:<{status_width}}  {s.time:>6}  {s.note}".rstrip())
    print()
    print("time: the wall time of kobai book run --seed 0 on the bundled data (--dataset "
          "sample) with one BLAS thread, the best of 3 runs (1 for those over a minute) on a "
          "shared 2-core machine.")
    print("full MNIST: what kobai book run --seed 0 --dataset mnist printed on the full set, "
          "and its wall time on one core; as the book's: --book-common printed the same.")
    for status, meaning in STATUSES.items():
        print(f"{status}: {meaning}")
