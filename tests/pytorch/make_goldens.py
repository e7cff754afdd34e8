#!/usr/bin/env python3
"""Writes the PyTorch goldens that nngen's differential tests compare against.

For each case it writes, under tests/pytorch/:
  specs/NAME.yaml            the nngen spec
  weights/NAME.safetensors   float32 weights with PyTorch's state_dict keys
  goldens/NAME.json          input, label or target, output, loss and every
                             parameter gradient, computed in float64 from the
                             same float32 weights and input

Cases: 24 chains drawn at random (fixed seeds) that together use every
op, padding mode, stride and both losses (arch20-23 each hold leaky_relu,
with PyTorch's default slope or another), then 4 networks with skip
connections (arch24-27: residual blocks joined by add, side branches
joined by concat, on images and vectors), then 4 chains with gelu, silu
and adaptive average pools (arch28-31), plus the seed's section-12.4 ConvNet
with the chapter's own loss (||output - 1||^2, fed to BackwardFrom), plus
"wide", whose linear layers are large enough to run on the matrix-vector
kernels.

Every case is also exported by torch.onnx.export, as onnx/NAME.onnx: the
same modules batched (flatten and softmax past the batch dimension), with
the same weights, a dynamic batch dimension, and opsets 11, 13 and 17 in
turn. So are the example networks (onnx/example_NAME.onnx, with goldens
onnx/example_NAME.json holding an input and PyTorch's float64 output),
the ConvNet with x.view(x.size(0), -1) as PyTorch users write it.

Run with Debian's PyTorch: apt-get install -y python3-torch libopenblas0-pthread
then /usr/bin/python3 tests/pytorch/make_goldens.py (from the repo root).
Rerunning it rewrites the same files. Debian has no python3-safetensors, so
the weights are written by the repository's python/nngen_safetensors.py.
"""
import collections
import contextlib
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
from nngen_safetensors import save_file  # noqa: E402  (Debian has no python3-safetensors)


def yaml_layer(op, fields):
    if not fields:
        return "  - %s" % op
    items = []
    for k, v in fields.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = "[%s]" % ", ".join(str(x) for x in v)
        items.append("%s: %s" % (k, v))
    return "  - %s: {%s}" % (op, ", ".join(items))


class Builder:
    """Builds an nngen spec and the equivalent nn.Sequential side by side."""

    def __init__(self, name, shape):
        self.name, self.shape = name, list(shape)
        self.lines, self.mods, self.ops = [], [], []

    def add(self, op, fields, mod, shape, key=None):
        self.lines.append(yaml_layer(op, fields))
        k = key if key is not None else str(len(self.mods))
        self.mods.append((k, mod))
        self.ops.append(op)
        self.shape = shape

    def spec(self, inp, loss):
        return "# drawn by tests/pytorch/make_goldens.py\nname: %s\ninput: [%s]\nlayers:\n%s\nloss: %s\n" % (
            self.name, ", ".join(map(str, inp)), "\n".join(self.lines), loss)


def conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def draw(rng, name, names=("relu", "sigmoid", "tanh")):
    """Draws an architecture whose activations are chosen from names."""
    kind = rng.choice(["vec", "seq", "img", "img"])
    if kind == "vec":
        inp = [rng.randint(2, 12)]
    elif kind == "seq":
        inp = [rng.randint(1, 3), rng.randint(6, 14)]
    else:
        inp = [rng.randint(1, 3), rng.randint(5, 10), rng.randint(5, 10)]
    b = Builder(name, inp)
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}

    def act(a):
        """The activation a, with leaky_relu's slope drawn: PyTorch's
        default (the field left out), or one written in the spec."""
        if a != "leaky_relu":
            return {}, acts[a]()
        slope = rng.choice([None, 0.2, 0.05, 1.5])
        if slope is None:
            return {}, nn.LeakyReLU()
        return {"negative_slope": slope}, nn.LeakyReLU(slope)
    if kind != "vec":
        d = 1 if kind == "seq" else 2
        for blk in range(rng.randint(1, 2)):
            c = b.shape[0]
            sp = b.shape[1:]
            out = rng.randint(1, 4)
            if d == 1:
                k = rng.randint(1, min(4, sp[0] + 2))
                s = rng.randint(1, 2)
                p = rng.randint(0, min(2, k))
                ks, ss, ps = [k], [s], [p]
                kf, sf, pf = k, s, p
            else:
                ks = [rng.randint(1, min(4, n + 2)) for n in sp]
                ss = [rng.randint(1, 2) for _ in sp]
                ps = [rng.randint(0, min(2, k)) for k in ks]
                kf = ks[0] if ks[0] == ks[1] else ks
                sf = ss[0] if ss[0] == ss[1] else ss
                pf = ps[0] if ps[0] == ps[1] else ps
            if any(k > n + 2 * p for k, n, p in zip(ks, sp, ps)):
                continue
            mode = rng.choice(["zeros", "replicate"]) if any(ps) else "zeros"
            bias = rng.random() < 0.8
            fields = collections.OrderedDict(out=out, kernel=kf)
            if any(x != 1 for x in ss):
                fields["stride"] = sf
            if any(ps):
                fields["padding"] = pf
            if mode != "zeros":
                fields["padding_mode"] = mode
            if not bias:
                fields["bias"] = False
            key = None
            if rng.random() < 0.3:
                key = "conv%d" % blk
                fields["name"] = key
            Conv = nn.Conv1d if d == 1 else nn.Conv2d
            mod = Conv(c, out, tuple(ks) if d == 2 else ks[0], stride=tuple(ss) if d == 2 else ss[0],
                       padding=tuple(ps) if d == 2 else ps[0], padding_mode=mode, bias=bias)
            shape = [out] + [conv_out(n, k, s, p) for n, k, s, p in zip(sp, ks, ss, ps)]
            b.add("conv%dd" % d, fields, mod, shape, key)
            if rng.random() < 0.8:
                a = rng.choice(names)
                b.add(a, *act(a), b.shape)
            sp = b.shape[1:]
            if rng.random() < 0.7 and min(sp) >= 2:
                k = rng.randint(2, min(3, min(sp)))
                s = rng.randint(1, k)
                is_max = rng.random() < 0.5
                fields = collections.OrderedDict(kernel=k)
                if s != k:
                    fields["stride"] = s
                if d == 1:
                    mod = (nn.MaxPool1d if is_max else nn.AvgPool1d)(k, s)
                else:
                    mod = (nn.MaxPool2d if is_max else nn.AvgPool2d)(k, s)
                shape = [b.shape[0]] + [(n - k) // s + 1 for n in sp]
                b.add(("maxpool%dd" if is_max else "avgpool%dd") % d, fields, mod, shape)
                if rng.random() < 0.3:
                    a = rng.choice(names)
                    b.add(a, *act(a), b.shape)
        b.add("flatten", {}, nn.Flatten(0), [int(torch.tensor(b.shape).prod())])
        if rng.random() < 0.2:
            a = rng.choice(names)
            b.add(a, *act(a), b.shape)
    loss = rng.choice(["cross_entropy", "mse"])
    nlin = rng.randint(1, 3)
    for i in range(nlin):
        last = i == nlin - 1
        out = rng.randint(2, 6) if last else rng.randint(2, 12)
        bias = rng.random() < 0.8
        fields = collections.OrderedDict(out=out)
        if not bias:
            fields["bias"] = False
        key = None
        if rng.random() < 0.3:
            key = "fc%d" % i
            fields["name"] = key
        b.add("linear", fields, nn.Linear(b.shape[0], out, bias=bias), [out], key)
        if not last and rng.random() < 0.9:
            a = rng.choice(names)
            b.add(a, *act(a), b.shape)
    if loss == "mse" and rng.random() < 0.4:
        b.add("softmax", {}, nn.Softmax(dim=0), b.shape)
    elif loss == "mse" and rng.random() < 0.3:
        a = rng.choice(names)
        b.add(a, *act(a), b.shape)
    model = nn.Sequential(collections.OrderedDict(b.mods))
    return b.spec(inp, loss), model, inp, loss, b.ops


class GraphNet(nn.Module):
    """A network with skip connections: nodes (key, op, module, inputs) run
    in order, each reading the outputs of earlier nodes (-1: the input), as
    nngen reads a spec's from. Modules with parameters are registered under
    their keys, so the state_dict keys are nngen's."""

    def __init__(self, nodes, dim=0):
        super().__init__()
        self.nodes, self.dim = nodes, dim
        for key, op, mod, src in nodes:
            if mod is not None and any(True for _ in mod.parameters()):
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
                y = torch.cat(ins, self.dim)  # channels: dimension 0 unbatched, 1 batched
            else:
                y = mod(ins[0])
            outs.append(y)
        return outs[-1]


def draw_residual(rng, name):
    """Draws a network with residual blocks (add, a fused activation after
    it), and at times a side branch joined by concat, on images or
    vectors."""
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    lines, nodes, shapes = [], [], []

    def add(op, fields, mod, src, shape, named=False):
        i = len(nodes)
        key = "n%d" % i if named else str(i)
        f = collections.OrderedDict(fields)
        if src is not None:
            f["from"] = src[0] if op not in ("add", "concat") else src
        if named:
            f["name"] = key
        lines.append(yaml_layer(op, f))
        srcs = [i - 1] if src is None else [names[s] for s in ([src[0]] if op not in ("add", "concat") else src)]
        nodes.append((key, op, mod, srcs))
        shapes.append(shape)
        if named:
            names[key] = i
        return key

    names = {}
    img = rng.random() < 0.6
    if img:
        c, h, w = rng.randint(1, 3), rng.randint(5, 8), rng.randint(5, 8)
        inp = [c, h, w]
        ch = rng.randint(2, 4)
        add("conv2d", {"out": ch, "kernel": 3, "padding": 1}, nn.Conv2d(c, ch, 3, padding=1), None, [ch, h, w])
        a = rng.choice(list(acts))
        prev = add(a, {}, acts[a](), None, [ch, h, w], named=True)
        for blk in range(rng.randint(1, 2)):
            add("conv2d", {"out": ch, "kernel": 3, "padding": 1}, nn.Conv2d(ch, ch, 3, padding=1), None, [ch, h, w])
            a = rng.choice(list(acts))
            add(a, {}, acts[a](), None, [ch, h, w])
            cb = add("conv2d", {"out": ch, "kernel": 3, "padding": 1}, nn.Conv2d(ch, ch, 3, padding=1), None, [ch, h, w], named=True)
            add("add", {}, None, [cb, prev], [ch, h, w])
            a = rng.choice(list(acts))
            prev = add(a, {}, acts[a](), None, [ch, h, w], named=True)
        if rng.random() < 0.6:
            side = rng.randint(1, 3)
            sk = add("conv2d", {"out": side, "kernel": 1}, nn.Conv2d(ch, side, 1), [prev], [side, h, w], named=True)
            add("concat", {}, None, [prev, sk], [ch + side, h, w])
            ch += side
        if rng.random() < 0.5 and min(h, w) >= 2:
            add("avgpool2d", {"kernel": 2}, nn.AvgPool2d(2), None, [ch, h // 2, w // 2])
            h, w = h // 2, w // 2
        add("flatten", {}, nn.Flatten(0), None, [ch * h * w])
        feat = ch * h * w
    else:
        inp = [rng.randint(3, 10)]
        feat = rng.randint(4, 10)
        prev = add("linear", {"out": feat}, nn.Linear(inp[0], feat), None, [feat], named=True)
        for blk in range(rng.randint(1, 3)):
            add("linear", {"out": feat}, nn.Linear(feat, feat), None, [feat])
            a = rng.choice(list(acts))
            hk = add(a, {}, acts[a](), None, [feat], named=True)
            add("add", {}, None, [hk, prev] if rng.random() < 0.5 else [prev, hk, hk], [feat])
            a = rng.choice(list(acts))
            prev = add(a, {}, acts[a](), None, [feat], named=True)
    loss = rng.choice(["cross_entropy", "mse"])
    out = rng.randint(2, 6)
    add("linear", {"out": out}, nn.Linear(feat, out), None, [out])
    spec = "# drawn by tests/pytorch/make_goldens.py\nname: %s\ninput: [%s]\nlayers:\n%s\nloss: %s\n" % (
        name, ", ".join(map(str, inp)), "\n".join(lines), loss)
    return spec, GraphNet(nodes), inp, loss


def draw_smooth(rng, name, d):
    """Draws a chain with gelu and silu (standalone: their derivative needs
    the input) and an adaptive average pool to an output size that divides
    the input (1: global average pooling)."""
    smooth = {"gelu": nn.GELU, "silu": nn.SiLU}
    c = rng.randint(1, 3)
    sp = [rng.randint(4, 8) for _ in range(d)]
    inp = [c] + sp
    b = Builder(name, inp)
    out = rng.randint(2, 4)
    Conv = nn.Conv1d if d == 1 else nn.Conv2d
    b.add("conv%dd" % d, collections.OrderedDict(out=out, kernel=3, padding=1), Conv(c, out, 3, padding=1), [out] + sp)
    a = rng.choice(list(smooth))
    b.add(a, {}, smooth[a](), b.shape)
    divisors = [[k for k in range(1, n + 1) if n % k == 0] for n in sp]
    size = [rng.choice(ds[1:] or ds) for ds in divisors]
    if rng.random() < 0.3:
        size = [1] * d  # global average pooling
    Pool = nn.AdaptiveAvgPool1d if d == 1 else nn.AdaptiveAvgPool2d
    field = size[0] if d == 1 or size[0] == size[1] else size
    b.add("adaptiveavgpool%dd" % d, {"output_size": field}, Pool(size[0] if d == 1 else tuple(size)), [out] + size)
    b.add("flatten", {}, nn.Flatten(0), [int(torch.tensor(b.shape).prod())])
    hid = rng.randint(3, 8)
    b.add("linear", {"out": hid}, nn.Linear(b.shape[0], hid), [hid])
    a = rng.choice(list(smooth))
    b.add(a, {}, smooth[a](), b.shape)
    k = rng.randint(2, 5)
    b.add("linear", {"out": k}, nn.Linear(hid, k), [k])
    loss = rng.choice(["cross_entropy", "mse"])
    return b.spec(inp, loss), nn.Sequential(collections.OrderedDict(b.mods)), inp, loss, b.ops


def draw_grouped(rng, name, d, same):
    """Draws a chain of grouped and depthwise convolutions, with
    padding='same' (even kernels too) when same is set."""
    c = rng.choice([2, 4])
    sp = [rng.randint(5, 8) for _ in range(d)]
    inp = [c] + sp
    b = Builder(name, inp)
    Conv = nn.Conv1d if d == 1 else nn.Conv2d
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    for i in range(3):
        cin = b.shape[0]
        groups = rng.choice([g for g in (1, 2, cin) if cin % g == 0 and g > 1] or [1])
        out = groups * rng.randint(1, 2)
        if same:
            k = rng.choice([2, 3, 4])
            ks = [k] * d if rng.random() < 0.5 or d == 1 else [k, rng.choice([2, 3])]
            pad, shape = "same", [out] + b.shape[1:]
            fields = collections.OrderedDict(out=out, kernel=ks[0] if d == 1 or ks[0] == ks[1] else ks, padding="same")
        else:
            k = 3
            ks = [k] * d
            pad, shape = 1, [out] + [n for n in b.shape[1:]]
            fields = collections.OrderedDict(out=out, kernel=k, padding=1)
        mode = rng.choice(["zeros", "replicate"])
        if mode != "zeros":
            fields["padding_mode"] = mode
        fields["groups"] = groups
        mod = Conv(cin, out, tuple(ks) if d == 2 else ks[0], padding=pad, padding_mode=mode, groups=groups)
        b.add("conv%dd" % d, fields, mod, shape)
        a = rng.choice(list(acts))
        b.add(a, {}, acts[a](), b.shape)
    b.add("flatten", {}, nn.Flatten(0), [int(torch.tensor(b.shape).prod())])
    k = rng.randint(2, 5)
    b.add("linear", {"out": k}, nn.Linear(b.shape[0], k), [k])
    loss = rng.choice(["cross_entropy", "mse"])
    return b.spec(inp, loss), nn.Sequential(collections.OrderedDict(b.mods)), inp, loss, b.ops


def draw_bce(rng, name, outputs):
    """Draws a chain for binary cross-entropy on logits: one output (a
    binary classifier) or several (multi-label), with soft targets."""
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}
    if rng.random() < 0.5:
        inp = [rng.randint(3, 10)]
        b = Builder(name, inp)
    else:
        c, sp = rng.randint(1, 3), rng.randint(6, 10)
        inp = [c, sp, sp]
        b = Builder(name, inp)
        out = rng.randint(2, 4)
        b.add("conv2d", collections.OrderedDict(out=out, kernel=3), nn.Conv2d(c, out, 3), [out, sp - 2, sp - 2])
        a = rng.choice(list(acts))
        b.add(a, {}, acts[a](), b.shape)
        b.add("flatten", {}, nn.Flatten(0), [int(torch.tensor(b.shape).prod())])
    hid = rng.randint(3, 8)
    b.add("linear", {"out": hid}, nn.Linear(b.shape[0], hid), [hid])
    a = rng.choice(list(acts))
    b.add(a, {}, acts[a](), b.shape)
    b.add("linear", {"out": outputs}, nn.Linear(hid, outputs), [outputs])
    loss = "binary_cross_entropy_with_logits"
    return b.spec(inp, loss), nn.Sequential(collections.OrderedDict(b.mods)), inp, loss, b.ops


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def batched(model):
    """The model for a batch: a copy whose flatten and softmax start past
    the batch dimension and whose concat joins dimension 1."""
    m = copy.deepcopy(model).float().eval()

    def fix(mod):
        if isinstance(mod, nn.Flatten):
            return nn.Flatten()
        if isinstance(mod, nn.Softmax):
            return nn.Softmax(dim=1)
        return mod
    if isinstance(m, GraphNet):
        m.nodes = [(k, op, fix(mod) if mod is not None else None, src) for k, op, mod, src in m.nodes]
        m.dim = 1
    else:
        for k, mod in list(m._modules.items()):
            m._modules[k] = fix(mod)
    return m


ONNX_OPSETS = (11, 13, 17)


def export_onnx(model, inp, name, opset):
    """Exports model (already batched) as onnx/NAME.onnx with a dynamic
    batch dimension, traced on a batch of two."""
    os.makedirs(os.path.join(HERE, "onnx"), exist_ok=True)
    x = torch.linspace(-1, 1, 2 * int(torch.tensor(inp).prod())).reshape([2] + list(inp))
    # Exporting draws from torch's global generator; the weights of later
    # cases must not depend on it.
    with torch.random.fork_rng(), contextlib.redirect_stdout(sys.stderr):
        torch.onnx.export(model, x, os.path.join(HERE, "onnx", name + ".onnx"), opset_version=opset,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


def write_case(name, spec, model, inp, loss_kind, gen, onnx_model=None, opset=13):
    for d in ("specs", "weights", "goldens"):
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
    # torch 1.13 cannot export padding='same' (aten::_convolution_mode).
    if spec is None or "padding: same" not in spec:
        export_onnx(onnx_model if onnx_model is not None else batched(model), inp, name, opset)
    if spec is not None:
        with open(os.path.join(HERE, "specs", name + ".yaml"), "w") as f:
            f.write(spec)
    sd = collections.OrderedDict((k, v.float()) for k, v in model.state_dict().items())
    save_file(sd, os.path.join(HERE, "weights", name + ".safetensors"))
    m64 = model.double()
    x = torch.randn(*inp, generator=gen, dtype=torch.float32).double()
    out = m64(x)  # unbatched, as nngen's per-sample API
    g = {"input": flat(x), "output": flat(out)}
    if loss_kind == "cross_entropy":
        label = int(torch.randint(0, out.numel(), (1,), generator=gen))
        loss = F.cross_entropy(out.reshape(1, -1), torch.tensor([label]))
        g["label"] = label
    elif loss_kind == "mse":
        target = torch.randn(out.numel(), generator=gen, dtype=torch.float32).double()
        loss = F.mse_loss(out.reshape(-1), target)
        g["target"] = flat(target)
    elif loss_kind == "binary_cross_entropy_with_logits":
        # Soft targets in [0, 1], some exactly 0 or 1.
        target = torch.rand(out.numel(), generator=gen, dtype=torch.float32)
        target = torch.where(target < 0.25, torch.zeros_like(target), torch.where(target > 0.75, torch.ones_like(target), target)).double()
        loss = F.binary_cross_entropy_with_logits(out.reshape(-1), target)
        g["target"] = flat(target)
    else:  # the seed's ConvNet loss: ||output - 1||^2, given to BackwardFrom as dy
        loss = torch.norm(out - torch.ones_like(out)) ** 2
        g["dy"] = flat(2 * (out - 1))
    loss.backward()
    g["loss"] = float(loss)
    g["grads"] = collections.OrderedDict((k, flat(p.grad)) for k, p in m64.named_parameters())
    with open(os.path.join(HERE, "goldens", name + ".json"), "w") as f:
        json.dump(g, f, indent=1)
        f.write("\n")


class ConvNet(nn.Module):
    """The seed's section-12.4 ConvNet, written as the chapter writes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 5)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(3, 16, 5)
        self.pool2 = nn.AvgPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool1(x)
        x = F.relu(self.conv2(x))
        x = self.pool2(x)
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        return self.fc2(x)[0]


class ConvNetBatch(ConvNet):
    """The ConvNet on a batch, flattened as PyTorch users write it."""

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))


class ResNet8(nn.Module):
    """examples/resnet8.yaml, with its keys: a stem and three basic blocks,
    batch norm after every convolution, projected shortcuts."""

    def __init__(self):
        super().__init__()
        conv = lambda i, o, k=3, s=1: nn.Conv2d(i, o, k, stride=s, padding=k // 2, bias=False)  # noqa: E731
        self.stem, self.stem_bn = conv(3, 16), nn.BatchNorm2d(16)
        self.b1c1, self.b1n1, self.b1c2, self.b1n2 = conv(16, 16), nn.BatchNorm2d(16), conv(16, 16), nn.BatchNorm2d(16)
        self.b2c1, self.b2n1, self.b2c2, self.b2n2 = conv(16, 32, s=2), nn.BatchNorm2d(32), conv(32, 32), nn.BatchNorm2d(32)
        self.b2sc, self.b2sn = conv(16, 32, 1, 2), nn.BatchNorm2d(32)
        self.b3c1, self.b3n1, self.b3c2, self.b3n2 = conv(32, 64, s=2), nn.BatchNorm2d(64), conv(64, 64), nn.BatchNorm2d(64)
        self.b3sc, self.b3sn = conv(32, 64, 1, 2), nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        s0 = F.relu(self.stem_bn(self.stem(x)))
        s1 = F.relu(self.b1n2(self.b1c2(F.relu(self.b1n1(self.b1c1(s0))))) + s0)
        s2 = F.relu(self.b2n2(self.b2c2(F.relu(self.b2n1(self.b2c1(s1))))) + self.b2sn(self.b2sc(s1)))
        s3 = F.relu(self.b3n2(self.b3c2(F.relu(self.b3n1(self.b3c1(s2))))) + self.b3sn(self.b3sc(s2)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(s3, 1), 1))


def write_examples():
    """The example networks (examples/*.yaml) as PyTorch modules with its
    default initialisation, exported, with one input and PyTorch's float64
    output."""
    torch.manual_seed(5)
    seq = lambda *mods: nn.Sequential(collections.OrderedDict(mods))  # noqa: E731
    examples = {
        "mlp": ([1, 28, 28], seq(("0", nn.Flatten()), ("1", nn.Linear(784, 256)), ("2", nn.ReLU()),
                                 ("3", nn.Linear(256, 128)), ("4", nn.ReLU()), ("5", nn.Linear(128, 10)))),
        "lenet": ([1, 28, 28], seq(("0", nn.Conv2d(1, 6, 5, padding=2)), ("1", nn.ReLU()), ("2", nn.MaxPool2d(2)),
                                   ("3", nn.Conv2d(6, 16, 5)), ("4", nn.ReLU()), ("5", nn.MaxPool2d(2)),
                                   ("6", nn.Flatten()), ("7", nn.Linear(400, 120)), ("8", nn.ReLU()),
                                   ("9", nn.Linear(120, 84)), ("10", nn.ReLU()), ("11", nn.Linear(84, 10)))),
        "convnet": ([3, 32, 32], ConvNetBatch()),
        "vggish": ([3, 32, 32], seq(("0", nn.Conv2d(3, 32, 3, padding=1)), ("1", nn.ReLU()),
                                    ("2", nn.Conv2d(32, 32, 3, padding=1)), ("3", nn.ReLU()), ("4", nn.MaxPool2d(2)),
                                    ("5", nn.Conv2d(32, 64, 3, padding=1)), ("6", nn.ReLU()), ("7", nn.MaxPool2d(2)),
                                    ("8", nn.Flatten()), ("9", nn.Linear(4096, 10)))),
        "pendulum": ([3], seq(("0", nn.Linear(3, 32)), ("1", nn.Tanh()), ("2", nn.Linear(32, 32)), ("3", nn.Tanh()),
                              ("4", nn.Linear(32, 2)))),
        "tiny": ([2], seq(("hidden1", nn.Linear(2, 2, bias=False)), ("1", nn.ReLU()),
                          ("hidden2", nn.Linear(2, 3, bias=False)), ("3", nn.ReLU()),
                          ("hidden3", nn.Linear(3, 2, bias=False)))),
        "xor": ([2], seq(("0", nn.Linear(2, 2)), ("1", nn.ReLU()), ("2", nn.Linear(2, 1)), ("3", nn.ReLU()))),
        # Last, so that the examples before keep their weights. Its export
        # folds each batch norm into the convolution before it.
        "resnet8": ([3, 32, 32], ResNet8()),
    }
    # The ResNet-8's batch norms, away from their initial identity so that
    # the folding is tested.
    gbn = torch.Generator().manual_seed(7)
    for mod in examples["resnet8"][1].modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(0.3 * torch.randn(c, generator=gbn))
            mod.running_var.copy_(0.5 + torch.rand(c, generator=gbn))
            mod.weight.data.copy_(0.5 + torch.rand(c, generator=gbn))
            mod.bias.data.copy_(0.3 * torch.randn(c, generator=gbn))
    g = torch.Generator().manual_seed(6)
    for i, (name, (inp, model)) in enumerate(examples.items()):
        model = model.eval()
        export_onnx(model, inp, "example_" + name, ONNX_OPSETS[i % 3])
        x = torch.randn([1] + inp, generator=g, dtype=torch.float32)
        out = copy.deepcopy(model).double()(x.double())
        with open(os.path.join(HERE, "onnx", "example_%s.json" % name), "w") as f:
            json.dump({"input": flat(x), "output": flat(out)}, f, indent=1)
            f.write("\n")


class Nested(nn.Module):
    """Nested Sequentials with dropout and gelu, as real models are built."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(0.3))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.GELU(), nn.Dropout(), nn.Linear(16, 3))

    def forward(self, x):
        return self.head(self.features(x))


class MatMulNet(nn.Module):
    """A linear layer written as x @ w + b, which exports as MatMul, Add."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 4) / 3)
        self.b = nn.Parameter(torch.randn(4) / 3)

    def forward(self, x):
        return torch.tanh(x.flatten(1) @ self.w + self.b)


def write_variants():
    """The same nested model exported the ways users export (initializers
    listed as inputs, no constant folding, a fixed batch of one, opset
    11), MatMulNet, and batch norm in eval mode: onnx/variants/NAME.onnx with NAME.json holding the
    state_dict keys, an input and PyTorch's float64 output."""
    d = os.path.join(HERE, "onnx", "variants")
    os.makedirs(d, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(8)
        nested, mm = Nested().eval(), MatMulNet().eval()
        x8, x6 = torch.randn(1, 1, 8, 8), torch.randn(1, 2, 3)
        # Batch norm in eval mode with statistics other than the initial
        # ones: the export folds BatchNorm2d into its Conv itself, and
        # leaves BatchNorm1d after the Linear to the importer.
        bn = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                           nn.Linear(4 * 6 * 6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
        for mod in bn.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.5, 0.5)
        bn = bn.eval()
        x2 = torch.randn(1, 2, 8, 8)
    variants = [
        ("nested", nested, x8, dict(dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})),
        ("nested_inputs", nested, x8, dict(keep_initializers_as_inputs=True, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})),
        ("nested_unfolded", nested, x8, dict(do_constant_folding=False, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})),
        ("nested_static", nested, x8, dict(opset_version=11)),
        ("matmul", mm, x6, dict(dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})),
        ("batchnorm", bn, x2, dict(dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})),
    ]
    for name, model, x, kw in variants:
        with torch.random.fork_rng(), contextlib.redirect_stdout(sys.stderr):
            torch.onnx.export(model, x, os.path.join(d, name + ".onnx"), input_names=["x"], output_names=["y"], **kw)
        y = copy.deepcopy(model).double()(x.double())
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump({"keys": list(model.state_dict().keys()), "input": flat(x), "output": flat(y)}, f, indent=1)
            f.write("\n")


def write_userproject():
    """examples/userproject's PyTorch model: an nn.Sequential exported as a
    user would, with an input and PyTorch's float64 output for its test."""
    with torch.random.fork_rng():
        torch.manual_seed(7)
        model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(8 * 6 * 6, 10)).eval()
        x = torch.randn(1, 1, 12, 12)
    out = os.path.join(ROOT, "examples", "userproject")
    with torch.random.fork_rng(), contextlib.redirect_stdout(sys.stderr):
        torch.onnx.export(model, x, os.path.join(out, "pytorchnet.onnx"), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    y = copy.deepcopy(model).double()(x.double())
    with open(os.path.join(out, "pytorchnet.json"), "w") as f:
        json.dump({"input": flat(x), "output": flat(y)}, f, indent=1)
        f.write("\n")


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    rng = random.Random(2024)
    seen = set()
    n = 0
    while n < 20:
        name = "arch%02d" % n
        spec, model, inp, loss, ops = draw(rng, name)
        write_case(name, spec, model, inp, loss, gen, opset=ONNX_OPSETS[n % 3])
        seen.update(ops)
        seen.add(loss)
        n += 1
    # Activations added since are drawn from a second generator, so that the
    # first twenty architectures (which other tests name) stay as they are.
    rng2 = random.Random(2027)
    while n < 24:
        name = "arch%02d" % n
        spec, model, inp, loss, ops = draw(rng2, name, ("leaky_relu", "relu", "sigmoid", "tanh"))
        if "leaky_relu" not in ops:
            continue
        write_case(name, spec, model, inp, loss, gen, opset=ONNX_OPSETS[n % 3])
        seen.update(ops)
        seen.add(loss)
        n += 1
    # Skip connections, from a third generator.
    rng3 = random.Random(2028)
    while n < 28:
        name = "arch%02d" % n
        spec, model, inp, loss = draw_residual(rng3, name)
        write_case(name, spec, model, inp, loss, gen, opset=ONNX_OPSETS[n % 3])
        seen.update(("add", "concat") if "concat" in spec else ("add",))
        n += 1
    # gelu, silu and adaptive average pools, from a fourth generator.
    rng4 = random.Random(2029)
    while n < 32:
        name = "arch%02d" % n
        spec, model, inp, loss, ops = draw_smooth(rng4, name, 1 + n % 2)
        write_case(name, spec, model, inp, loss, gen, opset=ONNX_OPSETS[n % 3])
        seen.update(ops)
        seen.add(loss)
        n += 1
    want = {"linear", "conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "flatten",
            "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "silu", "adaptiveavgpool1d", "adaptiveavgpool2d",
            "softmax", "add", "concat", "cross_entropy", "mse"}
    missing = want - seen
    assert not missing, "the drawn architectures miss %s; change the seed" % sorted(missing)
    specs = "".join(open(os.path.join(HERE, "specs", "arch%02d.yaml" % i)).read() for i in range(20))
    assert "replicate" in specs and "stride" in specs and "padding" in specs
    # The seed's ConvNet: its spec is examples/convnet.yaml, its keys the
    # chapter's attribute names (conv1, conv2, fc1, fc2).
    convnet = ConvNet()
    with torch.random.fork_rng():
        batch = ConvNetBatch()
    batch.load_state_dict(convnet.state_dict())
    write_case("convnet", None, convnet, [3, 32, 32], "norm", gen, onnx_model=batch.eval())
    # Linear layers wide enough for the matrix-vector kernels
    # (gen.KernelLinearInputs and KernelLinearMACs), and a narrow last one.
    wide = nn.Sequential(nn.Linear(100, 80), nn.ReLU(), nn.Linear(80, 70), nn.Tanh(), nn.Linear(70, 5))
    spec = ("# Wide enough for the matrix-vector kernels, then a narrow layer.\n"
            "name: wide\ninput: [100]\nlayers:\n  - linear: {out: 80}\n  - relu\n"
            "  - linear: {out: 70}\n  - tanh\n  - linear: {out: 5}\nloss: cross_entropy\n")
    write_case("wide", spec, wide, [100], "cross_entropy", gen)
    n = 32
    # Grouped and depthwise convolutions, with and without padding: same,
    # from a fifth generator, drawn last so that the cases before keep
    # their weights and inputs.
    rng5 = random.Random(2030)
    while n < 36:
        name = "arch%02d" % n
        spec, model, inp, loss, ops = draw_grouped(rng5, name, 1 + n % 2, n < 34)
        write_case(name, spec, model, inp, loss, gen, opset=ONNX_OPSETS[n % 3])
        n += 1
    grouped = "".join(open(os.path.join(HERE, "specs", "arch%02d.yaml" % i)).read() for i in range(32, 36))
    assert "groups: " in grouped and "padding: same" in grouped
    # Binary cross-entropy on logits: a binary classifier and two
    # multi-label ones, from a sixth generator.
    rng6 = random.Random(2031)
    for outputs in (1, 3, 5):
        name = "arch%02d" % n
        spec, model, inp, loss, ops = draw_bce(rng6, name, outputs)
        write_case(name, spec, model, inp, loss, gen, opset=ONNX_OPSETS[n % 3])
        n += 1
    write_examples()
    write_userproject()
    write_variants()


if __name__ == "__main__":
    main()
