"""§4.4.2 (gradient_simplenet.py): the numerical gradient of simpleNet's loss w.r.t. W.

Run: python examples/ch04_gradient_simplenet.py
With the notebook's weights this prints the notebook's numbers.
"""

import numpy as np

from kobai.gradient import numerical_gradient
from kobai.nets import simpleNet

net = simpleNet(W=[[-0.78425015, 1.35311457, 0.17493891],
                   [-0.44785118, -0.55581795, 0.26695799]])
print(net.W)

x = np.array([0.6, 0.9])
p = net.predict(x)
print(p)
print(np.argmax(p))

t = np.array([0, 0, 1])
print(net.loss(x, t))


def f(W):
    return net.loss(x, t)  # ignores W: works because numerical_gradient perturbs net.W in place


dW = numerical_gradient(f, net.W)
print(dW)
