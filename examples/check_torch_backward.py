"""Check a hand-written PyTorch backward pass: a Swish activation (x·sigmoid(x)) as a
torch.autograd.Function whose backward forgot one term of the product rule, inside an
nn.Sequential; locate=True names the layer.

Run: python examples/check_torch_backward.py   (needs PyTorch: pip install -e ".[torch]")
"""

import torch

from kobai.gradcheck import check_torch


class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s  # the planted bug: the term x·s·(1 - s) is missing


class Swish(torch.nn.Module):
    def forward(self, x):
        return SwishFunction.apply(x)


torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), Swish(), torch.nn.Linear(16, 4))
x = torch.randn(32, 8, requires_grad=True)
print(check_torch(model, x, locate=True))
