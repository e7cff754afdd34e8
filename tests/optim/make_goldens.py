#!/usr/bin/env python3
"""Writes tests/optim/goldens.json: parameter trajectories of torch.optim.SGD
and torch.optim.Adam under fixed gradients, and the learning rates of StepLR
and CosineAnnealingLR per epoch and of SequentialLR's linear warm-up then
cosine or step per step, for runtime/optim's tests.

Run with Debian's PyTorch (/usr/bin/python3) from the repository root."""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    g = torch.Generator().manual_seed(3)
    shapes = [[3, 4], [5]]
    init = [torch.randn(*s, generator=g) for s in shapes]
    steps = 6
    grads = [[torch.randn(*s, generator=g) for s in shapes] for _ in range(steps)]
    configs = [
        ("sgd_plain", "sgd", dict(lr=0.1)),
        ("sgd_momentum_wd", "sgd", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
        ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)),
        ("sgd_dampening", "sgd", dict(lr=0.2, momentum=0.5, dampening=0.3)),
        ("adam_default", "adam", dict()),
        ("adam_custom", "adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ]
    out = {"shapes": shapes, "init": [p.reshape(-1).tolist() for p in init],
           "grads": [[gr.reshape(-1).tolist() for gr in step] for step in grads], "runs": {}}
    for name, kind, kw in configs:
        ps = [torch.nn.Parameter(p.clone()) for p in init]
        opt = (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)(ps, **kw)
        traj = []
        for step in grads:
            for p, gr in zip(ps, step):
                p.grad = gr.clone()
            opt.step()
            traj.append([p.detach().reshape(-1).tolist() for p in ps])
        out["runs"][name] = {"kind": kind, "config": kw, "params": traj}
    p = torch.nn.Parameter(torch.zeros(1))
    lrs = {}
    for name, make in [("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
                       ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001))]:
        o = torch.optim.SGD([p], lr=0.1)
        s = make(o)
        seq = []
        for _ in range(10):
            seq.append(o.param_groups[0]["lr"])
            o.step()
            s.step()
        lrs[name] = seq
    out["lr"] = lrs
    sched = torch.optim.lr_scheduler
    steps = {}
    for name, make in [
            ("warmup_cosine", lambda o: sched.SequentialLR(o, [sched.LinearLR(o, start_factor=0.25, total_iters=4),
                                                              sched.CosineAnnealingLR(o, T_max=8, eta_min=0.001)], milestones=[4])),
            ("warmup_step", lambda o: sched.SequentialLR(o, [sched.LinearLR(o, total_iters=3),
                                                            sched.StepLR(o, step_size=2, gamma=0.5)], milestones=[3]))]:
        o = torch.optim.SGD([p], lr=0.1)
        s = make(o)
        seq = []
        for _ in range(12):
            seq.append(o.param_groups[0]["lr"])
            o.step()
            s.step()
        steps[name] = seq
    out["step_lr"] = steps
    with open(os.path.join(HERE, "goldens.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
