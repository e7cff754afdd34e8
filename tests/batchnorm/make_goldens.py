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
momentum=None) and bn2 (a residual block on sequences) run as code. bn3 to
bn9 are graphs drawn at random (a fixed seed) from every op nngen has but
dropout (whose masks are not PyTorch's): residual blocks with projection
shortcuts, side branches joined by concat, grouped convolutions,
padding='same', every activation and pool, batch norm with its fields
drawn, and the three losses. bn3 and bn8 are drawn large enough for the
kernels.

Run with Debian's PyTorch (apt-get install -y python3-torch
libopenblas0-pthread) from the repository root:
  /usr/bin/python3 tests/batchnorm/make_goldens.py
Rerunning it rewrites the same files.
"""
import collections
import copy
import json
import os
import random
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

class Graph(nn.Module):
    """A drawn network: nodes (key, op, module, sources) run in order on a
    batch, each reading earlier nodes' outputs (-1: the input), as nngen
    reads a spec's from. Modules are registered under their keys, so the
    state_dict keys are nngen's."""

    def __init__(self, nodes):
        super().__init__()
        self.nodes = nodes
        for key, op, mod, src in nodes:
            if mod is not None:
                self.add_module(key, mod)

    def forward(self, x):
        outs = []
        for key, op, mod, src in self.nodes:
            ins = [x if i < 0 else outs[i] for i in src]
            if op == "add":
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            elif op == "concat":
                y = torch.cat(ins, 1)
            else:
                y = mod(ins[0])
            outs.append(y)
        return outs[-1]


def field_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(str(x) for x in v)
    return str(v)


ACTS = ("relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid")


def draw(rng, name, d, big, pool):
    """Draws a graph on d-D samples (0: vectors) and returns its spec
    layers, module, input shape, loss and the ops it used. A big one has
    convolutions the kernels run (no groups, odd kernels) and enough
    multiply-adds for the plan to put it on them. pool (max, avg or
    adaptive) is the pool before the classifier."""
    lines, nodes, ops = [], [], set()
    shape = [None]
    names = {}

    def add(op, fields, mod, src, out, named=False):
        i = len(nodes)
        key = "n%d" % i if named else str(i)
        f = collections.OrderedDict(fields)
        if src is not None:
            f["from"] = src if op in ("add", "concat") else src[0]
        if named:
            f["name"] = key
        body = ", ".join("%s: %s" % (k, field_text(v)) for k, v in f.items())
        lines.append("  - %s: {%s}" % (op, body) if body else "  - %s" % op)
        srcs = [i - 1] if src is None else [names[k] for k in src]
        nodes.append((key, op, mod, srcs))
        ops.add(op)
        shape[0] = out
        names[key] = i
        return key

    def act(named=False):
        a = rng.choice(ACTS)
        fields, mod = {}, {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
                           "sigmoid": nn.Sigmoid}.get(a, nn.LeakyReLU)()
        if a == "leaky_relu" and rng.random() < 0.5:
            fields, mod = {"negative_slope": 0.1}, nn.LeakyReLU(0.1)
        return add(a, fields, mod, None, shape[0], named)

    def bn(c, named=False):
        fields = collections.OrderedDict()
        kw = {}
        if rng.random() < 0.3:
            fields["num_features"] = c
        if rng.random() < 0.3:
            fields["eps"] = kw["eps"] = rng.choice([1e-3, 1e-4])
        if rng.random() < 0.4:
            kw["momentum"] = rng.choice([None, 0.3])
            fields["momentum"] = kw["momentum"]
        if rng.random() < 0.25:
            fields["affine"] = kw["affine"] = False
        BN = nn.BatchNorm2d if d == 2 else nn.BatchNorm1d
        return add("batchnorm%dd" % max(d, 1), fields, BN(c, **kw), None, shape[0], named)

    def conv(cin, cout, k, stride=1, pad=None, groups=1, bias=None, src=None, named=False):
        """A convolution, its padding k//2 (or "same") and its bias drawn."""
        if bias is None:
            bias = rng.random() < 0.5
        fields = collections.OrderedDict(out=cout, kernel=k)
        if stride != 1:
            fields["stride"] = stride
        if pad is None:
            pad = k // 2
        if pad:
            fields["padding"] = pad
        mode = "zeros"
        if pad and rng.random() < 0.25:
            mode = fields["padding_mode"] = "replicate"
        if groups != 1:
            fields["groups"] = groups
        if not bias:
            fields["bias"] = False
        Conv = nn.Conv2d if d == 2 else nn.Conv1d
        mod = Conv(cin, cout, k, stride=stride, padding=pad, padding_mode=mode, groups=groups, bias=bias)
        sp = shape[0][1:] if src is None else shapes[src[0]]
        if pad == "same":
            out = [cout] + list(sp)
        else:
            out = [cout] + [(n + 2 * pad - k) // stride + 1 for n in sp]
        return add("conv%dd" % d, fields, mod, src, out, named)

    shapes = {}

    def keep(key):
        shapes[key] = shape[0][1:]
        return key

    if d == 0:
        inp = [rng.randint(4, 9)]
        feat = rng.randint(4, 8)
        add("linear", {"out": feat}, nn.Linear(inp[0], feat), None, [feat])
        bn(feat)
        prev = act(named=True)
        for _ in range(rng.randint(1, 2)):
            add("linear", {"out": feat, "bias": False}, nn.Linear(feat, feat, bias=False), None, [feat])
            bn(feat)
            act()
            add("linear", {"out": feat}, nn.Linear(feat, feat), None, [feat])
            last = bn(feat, named=True)
            add("add", {}, None, [last, prev] if rng.random() < 0.5 else [prev, last], [feat])
            prev = act(named=True)
    else:
        c = rng.randint(1, 3)
        sp = [(rng.randint(10, 12) if d == 2 else rng.randint(40, 48)) if big else rng.randint(6, 9)] * d
        inp = [c] + sp
        shape[0] = inp
        ch = 2 * rng.randint(2, 4) if big else rng.choice([2, 4])
        if big:
            conv(c, ch, 3)
        else:
            conv(c, ch, rng.choice([2, 3]), pad="same")
        bn(ch)
        prev = keep(act(named=True))
        for blk in range(rng.randint(1, 2)):
            stride = 2 if blk == 1 or rng.random() < 0.4 else 1
            out = ch * 2 if stride == 2 else ch
            groups = 1 if big else rng.choice([g for g in (1, 2, ch) if out % g == 0])
            conv(ch, out, 3, stride=stride, groups=groups)
            bn(out)
            act()
            main = conv(out, out, 3, bias=False if rng.random() < 0.7 else None)
            main = bn(out, named=True)
            if stride == 1 and out == ch:
                skip = prev
            else:
                conv(ch, out, 1, stride=stride, bias=False, src=[prev])
                skip = bn(out, named=True)
            add("add", {}, None, [main, skip] if rng.random() < 0.5 else [skip, main], shape[0])
            prev = keep(act(named=True))
            ch = out
        if rng.random() < 0.5:
            side = rng.randint(1, 3)
            sk = conv(ch, side, 1, src=[prev], named=True)
            add("concat", {}, None, [prev, sk], [ch + side] + shape[0][1:])
            bn(ch + side)
            ch += side
        sp = shape[0][1:]
        if pool == "adaptive":
            Pool = nn.AdaptiveAvgPool2d if d == 2 else nn.AdaptiveAvgPool1d
            size = rng.choice([k for k in range(1, sp[0] + 1) if sp[0] % k == 0 and k < sp[0]])
            add("adaptiveavgpool%dd" % d, {"output_size": size}, Pool(size), None, [ch] + [size] * d)
        else:
            is_max = pool == "max"
            if d == 2:
                Pool = nn.MaxPool2d if is_max else nn.AvgPool2d
            else:
                Pool = nn.MaxPool1d if is_max else nn.AvgPool1d
            add(("maxpool%dd" if is_max else "avgpool%dd") % d, {"kernel": 2}, Pool(2), None,
                [ch] + [n // 2 for n in sp])
        feat = ch
        for n in shape[0][1:]:
            feat *= n
        add("flatten", {}, nn.Flatten(), None, [feat])
        hid = rng.randint(4, 8)
        add("linear", {"out": hid}, nn.Linear(feat, hid), None, [hid])
        d = 1  # batchnorm1d from here on
        bn(hid)
        act()
        feat = hid
    loss = rng.choice(["cross_entropy", "mse", "binary_cross_entropy_with_logits"])
    out = rng.randint(2, 5)
    add("linear", {"out": out}, nn.Linear(feat, out), None, [out])
    return "layers:\n" + "\n".join(lines) + "\n", Graph(nodes), inp, loss, ops | {loss}


def drawn():
    """bn3 to bn9, drawn from a fixed seed; they must use every op."""
    rng = random.Random(2032)
    cases = []
    for i, (d, big, pool) in enumerate([(2, True, "adaptive"), (1, False, "max"), (0, False, None),
                                        (2, False, "max"), (1, True, "avg"), (2, True, "avg"),
                                        (1, False, "adaptive")]):
        name = "bn%d" % (3 + i)
        torch.manual_seed(300 + i)
        layers, model, inp, loss, ops = draw(rng, name, d, big, pool)
        cases.append((name, inp, loss, layers, lambda m=model: m, ops))
    seen = set().union(*(c[5] for c in cases))
    want = {"conv1d", "conv2d", "batchnorm1d", "batchnorm2d", "linear", "add", "concat", "flatten",
            "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "adaptiveavgpool1d", "adaptiveavgpool2d",
            "cross_entropy", "mse", "binary_cross_entropy_with_logits"} | set(ACTS)
    missing = want - seen
    assert not missing, "the drawn graphs miss %s; change the seed" % sorted(missing)
    text = "".join(c[3] for c in cases)
    assert "groups: " in text and "padding: same" in text and "momentum: null" in text and "affine: false" in text
    return [c[:5] for c in cases]


N = 8  # samples in the batch


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    for d in ("specs", "weights", "goldens"):
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
    for i, (name, inp, loss_kind, layers, build) in enumerate(CASES + drawn()):
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
        elif loss_kind == "binary_cross_entropy_with_logits":
            # Soft targets in [0, 1], some exactly 0 or 1.
            target = torch.rand(N, out.shape[1], generator=gen, dtype=torch.float32)
            target = torch.where(target < 0.25, torch.zeros_like(target),
                                 torch.where(target > 0.75, torch.ones_like(target), target)).double()
            g["targets"] = flat(target)
            loss_fn = lambda o: F.binary_cross_entropy_with_logits(o, target)  # noqa: E731
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
