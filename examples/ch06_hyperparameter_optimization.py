"""§6.5 (hyperparameter_optimization.py): random search of lr and weight decay, on Ray Tune.

The book's experiment: MultiLayerNet(784, [100]*6, 10), SGD, batch 100, trained for 50 epochs
on 400 of the first 500 training images and scored on the other 100 (a validation split,
stratified and seeded here), for 100 trials with lr = 10^U(-6, -2) and weight decay =
10^U(-8, -4). The trials run on every core of this machine through a local Ray instance (or
on a cluster: --address HOST:PORT); the best configuration is then retrained on all 500
images and tested once. Prints the book's lines and writes the run folder (tune.png is the
book's figure 6-24). Needs `pip install "kobai[tune]"`.

Run: python examples/ch06_hyperparameter_optimization.py [--trials 20 --epochs 20]
"""

import argparse

from kobai.tune import PRESETS, SearchSettings, SearchSpace, search

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--trials", type=int, default=PRESETS["book"]["trials"])
parser.add_argument("--epochs", type=int, default=PRESETS["book"]["epochs"])
parser.add_argument("--cpus", type=int, help="local Ray CPUs (default: all)")
parser.add_argument("--address", help="a Ray cluster's HOST:PORT")
parser.add_argument("--out", help="the run folder (default: a new runs/tune-<timestamp>)")
args = parser.parse_args()

space = SearchSpace.from_options({})  # nothing given: the book's search space
settings = SearchSettings(**{**PRESETS["book"], "trials": args.trials, "epochs": args.epochs})
result = search(space, settings, cpus=args.cpus, address=args.address, out=args.out)

print("=========== Hyper-Parameter Optimization Result ===========")
finished = sorted((t for t in result.trials if t.epochs), key=lambda t: -t.final_acc)
for i, trial in enumerate(finished[:20]):
    print(f"Best-{i + 1}(val acc:{trial.final_acc}) | lr:{trial.config['lr']}, weight decay:"
          f"{trial.config['weight_decay']}")
print(f"the book's figure 6-24: {result.out / 'tune.png'}")
