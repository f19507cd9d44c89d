"""kobai in Jupyter, through a real kernel (nbclient + ipykernel, one notebook run shared by the
tests): the Trainer's output is clean without ipywidgets (no tqdm warning, one bar updated in
place, the epoch table), and :class:`kobai.notebook.LivePlot` shows the learning curve in one
output, redrawn at most once per interval."""

import base64
import os
import sys

import pytest
from conftest import blobs, require

from kobai.nets import MultiLayerNet
from kobai.notebook import LivePlot
from kobai.trainer import Trainer

SETUP = """\
import numpy as np
from kobai.nets import MultiLayerNet
from kobai.trainer import Trainer
rng = np.random.default_rng(0)
x = rng.standard_normal((600, 6))
t = (x[:, 0] > 0).astype(int)
"""
TRAIN = """\
net = MultiLayerNet(6, [8], 2, rng=0)
Trainer(net, x[:500], t[:500], x[500:], t[500:], epochs=5, mini_batch_size=10, rng=0).train()
print("trained")
"""
LIVE = """\
from kobai.notebook import LivePlot
plot = LivePlot()
net = MultiLayerNet(6, [8], 2, rng=0)
Trainer(net, x[:500], t[:500], x[500:], t[500:], epochs=4, mini_batch_size=50, rng=0,
        verbose=False, callbacks=[plot]).train()
print("redraws", plot.redraws)
"""


@pytest.fixture(scope="module")
def cells():
    """The outputs of SETUP, TRAIN and LIVE run in a fresh python3 kernel with this kobai."""
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    require("ipykernel")
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c)
                                         for c in (SETUP, TRAIN, LIVE)])
    src = os.path.dirname(os.path.dirname(sys.modules["kobai"].__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name=NATIVE_KERNEL_NAME)
    with client.setup_kernel(env=env):
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
    return [cell.outputs for cell in nb.cells]


def text_of(outputs):
    return "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")


def test_training_in_a_notebook_without_ipywidgets_is_clean(cells):
    outputs = cells[1]
    everything = repr(cells[0] + outputs)  # tqdm.auto warns where kobai.trainer is imported
    assert "TqdmWarning" not in everything and "IProgress not found" not in everything
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    bars = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(bars) == 1  # one bar, updated in place: its last state
    assert bars[0]["data"]["text/plain"].startswith("epoch 5/5: 100%")
    assert len(outputs) <= 4  # the bar, the table (stdout, maybe in pieces), "trained"
    table = text_of(outputs).splitlines()
    assert table[0].split()[:3] == ["epoch", "train", "loss"]
    assert [row.split()[0] for row in table[1:6]] == ["1", "2", "3", "4", "5"]
    assert table[-1] == "trained"


def test_live_plot_shows_the_learning_curve_in_one_output(cells):
    outputs = cells[2]
    images = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(images) == 1  # redrawn in place
    png = base64.b64decode(images[0]["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # four fast epochs: the first drawn, the next within a second skipped, the last drawn
    redraws = int(text_of(outputs).split()[-1])
    assert 2 <= redraws <= 4


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_live_plot_redraws_at_most_once_per_interval_and_after_the_last_epoch(capsys):
    require("IPython")
    clock = FakeClock()
    plot = LivePlot(interval=1.0, clock=clock)

    def tick(trainer, record):  # runs before the plot: each epoch "takes" 0.4 s
        clock.now += 0.4

    x, t = blobs(200)
    net = MultiLayerNet(6, [5], 3, rng=0)
    Trainer(net, x[:150], t[:150], x[150:], t[150:], epochs=6, mini_batch_size=50, rng=0,
            verbose=False, callbacks=[tick, plot]).train()
    capsys.readouterr()  # outside a kernel IPython's display prints the image's repr
    # epochs at 0.4 (drawn), 0.8, 1.2, 1.6 (drawn), 2.0, 2.4 (the last: drawn)
    assert plot.redraws == 3


@pytest.mark.parametrize("interval", [-1.0, float("nan"), "1", True])
def test_live_plot_interval_must_be_seconds(interval):
    with pytest.raises(ValueError, match="interval must be a number of seconds"):
        LivePlot(interval=interval)
