#!/usr/bin/env python3
"""Writes the PyTorch goldens of nngen's batch norm tests.

For each network below it writes, under tests/batchnorm/:
  specs/NAME.yaml           the nngen spec
  weights/NAME.safetensors  float32 weights and buffers with PyTorch's
                            state_dict keys (num_batches_tracked as I64),
                            the running statistics drawn away from their
                            initial 0 and 1 so that inference tests them
  goldens/NAME.json         a batch of inputs with labels or targets, and
                            PyTorch's float64 results on it from the same
                            float32 weights: in eval mode (outputs, mean
                            loss, gradients) and in training mode (mean
                            loss, gradients, and the buffers after the step)

bn0 is large enough for nngen to run it on the kernels; bn1 (vectors,
momentum=None) and bn2 (a residual block on sequences) run as code.

Run with Debian's PyTorch (apt-get install -y python3-torch
libopenblas0-pthread) from the repository root:
  /usr/bin/python3 tests/batchnorm/make_goldens.py
Rerunning it rewrites the same files.
"""
import collections
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
from nngen_safetensors import save_file  # noqa: E402


class Residual(nn.Module):
    """bn2: conv, batch norm, relu, conv, batch norm, plus the first relu's
    output, relu, then a linear layer; keys as the spec names them."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv1d(3, 4, 3, padding=1), nn.BatchNorm1d(4)
        self.c2, self.b2 = nn.Conv1d(4, 4, 3, padding=1), nn.BatchNorm1d(4)
        self.fc = nn.Linear(32, 3)

    def forward(self, x):
        r1 = F.relu(self.b1(self.c1(x)))
        y = F.relu(self.b2(self.c2(r1)) + r1)
        return self.fc(y.flatten(1))


CASES = [
    ("bn0", [3, 16, 16], "cross_entropy", """layers:
  - conv2d: {out: 8, kernel: 3, padding: 1}
  - batchnorm2d: {num_features: 8}
  - relu
  - maxpool2d: {kernel: 2}
  - conv2d: {out: 8, kernel: 3, padding: 1, bias: false}
  - batchnorm2d: {momentum: 0.2, affine: false}
  - relu
  - flatten
  - linear: {out: 10}
  - batchnorm1d: {eps: 0.001}
  - relu
  - linear: {out: 4}
""", lambda: nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8, momentum=0.2, affine=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(512, 10), nn.BatchNorm1d(10, eps=0.001), nn.ReLU(), nn.Linear(10, 4))),
    ("bn1", [6], "mse", """layers:
  - linear: {out: 7}
  - batchnorm1d: {momentum: null}
  - tanh
  - linear: {out: 3}
""", lambda: nn.Sequential(nn.Linear(6, 7), nn.BatchNorm1d(7, momentum=None), nn.Tanh(), nn.Linear(7, 3))),
    ("bn2", [3, 8], "cross_entropy", """layers:
  - conv1d: {out: 4, kernel: 3, padding: 1, name: c1}
  - batchnorm1d: {name: b1}
  - relu: {name: r1}
  - conv1d: {out: 4, kernel: 3, padding: 1, name: c2}
  - batchnorm1d: {name: b2}
  - add: {from: [b2, r1]}
  - relu
  - flatten
  - linear: {out: 3, name: fc}
""", Residual),
]

N = 8  # samples in the batch


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    for d in ("specs", "weights", "goldens"):
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
    for i, (name, inp, loss_kind, layers, build) in enumerate(CASES):
        torch.manual_seed(100 + i)
        gen = torch.Generator().manual_seed(200 + i)
        model = build()
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                c = mod.num_features
                mod.running_mean.copy_(0.5 * torch.randn(c, generator=gen))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                mod.num_batches_tracked.fill_(3)
                if mod.affine:
                    mod.weight.data.copy_(0.5 + torch.rand(c, generator=gen))
                    mod.bias.data.copy_(0.5 * torch.randn(c, generator=gen))
        with open(os.path.join(HERE, "specs", name + ".yaml"), "w") as f:
            f.write("# written by tests/batchnorm/make_goldens.py\nname: %s\ninput: [%s]\n%sloss: %s\n" % (
                name, ", ".join(map(str, inp)), layers, loss_kind))
        sd = collections.OrderedDict(
            (k, v if v.dtype == torch.int64 else v.float()) for k, v in model.state_dict().items())
        save_file(sd, os.path.join(HERE, "weights", name + ".safetensors"))
        x = torch.randn(N, *inp, generator=gen, dtype=torch.float32).double()
        g = {"input": flat(x)}
        with torch.no_grad():
            out = model.double().eval()(x)
        if loss_kind == "cross_entropy":
            labels = torch.randint(0, out.shape[1], (N,), generator=gen)
            g["labels"] = [int(v) for v in labels]
            loss_fn = lambda o: F.cross_entropy(o, labels)  # noqa: E731
        else:
            target = torch.randn(N, out.shape[1], generator=gen, dtype=torch.float32).double()
            g["targets"] = flat(target)
            loss_fn = lambda o: F.mse_loss(o, target)  # noqa: E731
        for mode in ("eval", "train"):
            m = copy.deepcopy(model).double()
            m.train(mode == "train")
            o = m(x)
            loss = loss_fn(o)
            loss.backward()
            r = {"output": flat(o), "loss": float(loss),
                 "grads": collections.OrderedDict((k, flat(p.grad)) for k, p in m.named_parameters())}
            if mode == "train":
                r["buffers"] = collections.OrderedDict((k, flat(b.double())) for k, b in m.named_buffers())
            g[mode] = r
        with open(os.path.join(HERE, "goldens", name + ".json"), "w") as f:
            json.dump(g, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
