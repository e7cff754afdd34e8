#!/usr/bin/env python3
"""PyTorch side of nngen's engine comparison (bench/main.go starts it).

Reads one JSON command per line on stdin and answers one JSON line:
  {"cmd": "hello"}                      -> {"torch": version, "blas": library}
  {"cmd": "setup", "net", "input", "layers", "weights", "x", "labels",
   "batch", "lr"}                       -> {"ok": true}
      builds the network from nngen's checked layers (PyTorch's own
      modules, keys as in the spec, each reading the layers its "from"
      lists), loads the safetensors weights the harness wrote and the
      float32 batch
  {"cmd": "check", "net", "grad"}       -> {"out", "loss", "grad"}
      forward outputs of the batch in eval mode; the mean cross-entropy of
      the batch in training mode (batch norm on the batch's statistics)
      and the gradient of the parameter tensor named grad
  {"cmd": "export", "net", "path", "opset"}
                                        -> {"ok": true}
      writes the inference network as an ONNX model (torch.onnx.export)
      with input "x" and output "y", both with a dynamic batch dimension
  {"cmd": "time", "net", "metric", "threads", "min_seconds"}
                                        -> {"seconds": per run}
      metric infer1 | infer64 | train64, on torch.set_num_threads(threads)
      and as many OpenBLAS threads (openblas_set_num_threads)
  {"cmd": "save", "net", "path"}        -> {"ok": true}
      writes the network's state_dict with python/nngen_safetensors.py,
      for the harness to load back into nngen
Errors come back as {"error": message}. Debian has no safetensors
package; python/nngen_safetensors.py reads and writes the format.
"""
import contextlib
import copy
import ctypes
import json
import os
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from nngen_safetensors import load_file, save_file  # noqa: E402

torch.set_num_interop_threads(1)
torch.set_grad_enabled(False)


def openblas_threads():
    """Debian's torch runs matrix products in OpenBLAS, whose own thread pool
    uses every core whatever torch.set_num_threads says; return its setter
    (None if torch has no OpenBLAS loaded) so each run holds both to the
    same count."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "openblas" in line and line.split()[-1].startswith("/")}
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            return lib.openblas_set_num_threads, path
        except (OSError, AttributeError):
            continue
    return None, None


torch.zeros(2, 2) @ torch.zeros(2, 2)  # make sure the BLAS is loaded
set_blas_threads, blas_path = openblas_threads()


def set_threads(n):
    torch.set_num_threads(n)
    if set_blas_threads is not None:
        set_blas_threads(n)


ACTS = ("relu", "sigmoid", "tanh", "leaky_relu", "softmax", "gelu", "silu")


def activate(x, act, slope):
    if act == "relu":
        return F.relu(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "tanh":
        return torch.tanh(x)
    if act == "leaky_relu":
        return F.leaky_relu(x, slope)
    if act == "softmax":
        return F.softmax(x, dim=1)
    if act == "gelu":
        return F.gelu(x)
    if act == "silu":
        return F.silu(x)
    return x


class Net(nn.Module):
    """nngen's layers as a graph: each reads the outputs of the layers its
    "from" lists (-1: the input); modules with parameters or buffers are
    submodules named by key, so the state_dict is nngen's."""

    def __init__(self, layers):
        super().__init__()
        self.plan = []
        for l in layers:
            op, mod, pad = l["op"], None, None
            if op == "linear":
                mod = nn.Linear(l["in"][0], l["out"][0], bias=l["bias"])
            elif op in ("conv1d", "conv2d"):
                cls = nn.Conv1d if op == "conv1d" else nn.Conv2d
                padding, mode = tuple(l["padding"]), l["padding_mode"]
                if l.get("padding_end"):
                    # Unequal sides (padding: same with an even kernel): pad
                    # first, as F.pad orders it (last dimension first).
                    pad = []
                    for b, e in reversed(list(zip(l["padding"], l["padding_end"]))):
                        pad += [b, e]
                    padding = 0
                mod = cls(l["in"][0], l["out"][0], tuple(l["kernel"]), stride=tuple(l["stride"]), padding=padding,
                          padding_mode=mode, groups=l.get("groups") or 1, bias=l["bias"])
                if pad is not None:
                    pad = (pad, "constant" if mode == "zeros" else mode)
            elif op in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
                cls = {"maxpool1d": nn.MaxPool1d, "maxpool2d": nn.MaxPool2d,
                       "avgpool1d": nn.AvgPool1d, "avgpool2d": nn.AvgPool2d}[op]
                mod = cls(tuple(l["kernel"]), stride=tuple(l["stride"]))
            elif op in ("adaptiveavgpool1d", "adaptiveavgpool2d"):
                cls = nn.AdaptiveAvgPool1d if op == "adaptiveavgpool1d" else nn.AdaptiveAvgPool2d
                size = l["output_size"]
                mod = cls(size[0] if len(size) == 1 else tuple(size))
            elif op in ("batchnorm1d", "batchnorm2d"):
                cls = nn.BatchNorm1d if op == "batchnorm1d" else nn.BatchNorm2d
                momentum = None if l["momentum"] < 0 else l["momentum"]
                mod = cls(l["in"][0], eps=l["eps"], momentum=momentum, affine=l["affine"])
            elif op == "dropout":
                mod = nn.Dropout(l["p"])
            elif op == "flatten":
                mod = nn.Flatten()
            elif op not in ACTS + ("add", "concat"):
                raise ValueError("unknown op %s" % op)
            if mod is not None and (any(True for _ in mod.parameters()) or any(True for _ in mod.buffers())):
                self.add_module(l["key"], mod)
            act = op if op in ACTS else l.get("act") or None
            self.plan.append((op, mod, pad, l["from"], act, l.get("negative_slope", 0.0)))

    def forward(self, x):
        outs = []
        for op, mod, pad, src, act, slope in self.plan:
            ins = [x if i < 0 else outs[i] for i in src]
            y = ins[0]
            if op == "add":
                for t in ins[1:]:
                    y = y + t
            elif op == "concat":
                y = torch.cat(ins, 1)
            elif mod is not None:
                if pad is not None:
                    y = F.pad(y, pad[0], mode=pad[1])
                y = mod(y)
            outs.append(activate(y, act, slope))
        return outs[-1]


nets = {}


def setup(req):
    model = Net(req["layers"])
    state = load_file(req["weights"])
    model.load_state_dict(state, strict=True)
    model.eval()  # inference: batch norm's running statistics, no dropout
    batch = req["batch"]
    with open(req["x"], "rb") as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
    x = x.reshape([batch] + req["input"]).clone()
    labels = torch.tensor(req["labels"], dtype=torch.long)
    train_model = copy.deepcopy(model).train()
    opt = torch.optim.SGD(train_model.parameters(), lr=req["lr"])
    nets[req["net"]] = dict(model=model, train_model=train_model, opt=opt, x=x, x1=x[:1].clone(),
                            labels=labels, state=state, layers=req["layers"], lr=req["lr"])
    return {"ok": True}


def train_step(model, opt, x, labels):
    opt.zero_grad(set_to_none=False)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
    opt.step()
    return loss


def check(req):
    n = nets[req["net"]]
    out = n["model"](n["x"])
    fresh = Net(n["layers"])
    fresh.load_state_dict(n["state"], strict=True)
    fresh.train()  # as nngen's TrainBatch: batch norm on the batch's statistics
    with torch.enable_grad():
        loss = F.cross_entropy(fresh(n["x"]), n["labels"])
        loss.backward()
    grad = dict(fresh.named_parameters())[req["grad"]].grad
    return {"out": out.flatten().tolist(), "loss": loss.item(), "grad": grad.flatten().tolist()}


def export(req):
    n = nets[req["net"]]
    # stdout carries the replies: anything the exporter prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        torch.onnx.export(n["model"], n["x1"], req["path"], opset_version=req["opset"],
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return {"ok": True}


def save(req):
    save_file(nets[req["net"]]["model"].state_dict(), req["path"])
    return {"ok": True}


def run_timed(req):
    n = nets[req["net"]]
    set_threads(req["threads"])
    metric = req["metric"]
    if metric == "infer1":
        model, x1 = n["model"], n["x1"]
        with torch.inference_mode():
            f = lambda: model(x1)
            return timed(f, req["min_seconds"])
    if metric == "infer64":
        model, x = n["model"], n["x"]
        with torch.inference_mode():
            f = lambda: model(x)
            return timed(f, req["min_seconds"])
    if metric == "train64":
        model, opt, x, labels = n["train_model"], n["opt"], n["x"], n["labels"]
        return timed(lambda: train_step(model, opt, x, labels), req["min_seconds"])
    raise ValueError("unknown metric %s" % metric)


def timed(f, min_seconds):
    f()  # warm-up
    runs = 0
    start = time.perf_counter()
    while runs < 2 or time.perf_counter() - start < min_seconds:
        f()
        runs += 1
    return {"seconds": (time.perf_counter() - start) / runs}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            cmd = req["cmd"]
            if cmd == "hello":
                reply = {"torch": torch.__version__, "blas": blas_path or "no OpenBLAS"}
            elif cmd == "setup":
                reply = setup(req)
            elif cmd == "check":
                reply = check(req)
            elif cmd == "export":
                reply = export(req)
            elif cmd == "save":
                reply = save(req)
            elif cmd == "time":
                reply = run_timed(req)
            else:
                reply = {"error": "unknown command %r" % cmd}
        except Exception as e:  # reported to the harness, which stops
            traceback.print_exc(file=sys.stderr)
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
