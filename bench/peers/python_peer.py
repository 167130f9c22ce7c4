"""NumPy / PyTorch runner for `npm run bench`.

    python3 bench/peers/python_peer.py --lib numpy|torch --spec '<json>' [--only ids] [--quick]

The orchestrator passes the workload sizes as JSON (bench/workloads.ts is the one source of them) and
reads the last stdout line, `RESULT {...}`, in the same shape as the JavaScript runners print. Timing
mirrors bench/lib/timing.ts: warm-up, repetitions calibrated to a minimum sample length, median.
"""
import argparse
import json
import math
import os
import sys
import time

FULL = dict(warmup=2, min_samples=5, max_samples=25, budget_ms=3000, min_sample_ms=20)
QUICK = dict(warmup=1, min_samples=3, max_samples=5, budget_ms=600, min_sample_ms=5)
ORDER = ["matmul256", "matmul512", "matmul1024", "conv2d", "gelu", "softmax",
         "mlp_eager", "mlp_jit", "cnn_eager", "cnn_jit", "dispatch"]


def measure(fn, o):
    first = 0.0
    for _ in range(o["warmup"]):
        t0 = time.perf_counter()
        fn()
        first = (time.perf_counter() - t0) * 1000
        if first > 5000:
            break
    reps = math.ceil(o["min_sample_ms"] / max(first, 0.01)) if 0 < first < o["min_sample_ms"] else 1
    min_samples = min(o["min_samples"], 2) if first > 5000 else o["min_samples"]
    times = []
    start = time.perf_counter()
    while len(times) < o["max_samples"] and (len(times) < min_samples or (time.perf_counter() - start) * 1000 < o["budget_ms"]):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) * 1000 / reps)
    times.sort()
    m = len(times) // 2
    med = times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2
    return med, len(times)


def cell(wid, ms, samples, per_run=1):
    if wid.startswith("matmul"):
        n = int(wid[6:])
        value = 2 * n ** 3 / (ms * 1e6)
    elif wid == "dispatch":
        value = ms * 1000 / per_run
    else:
        value = ms
    return {"value": value, "ms": ms, "samples": samples}


def numpy_impls(np, S, o):
    rng = np.random.default_rng(0)
    f32 = lambda *shape, scale=1.0: (rng.uniform(-1, 1, size=shape) * scale).astype(np.float32)
    impls = {}
    for n in S["matmul"]:
        def mm(n=n):
            a, b = f32(n, n), f32(n, n)
            return cell(f"matmul{n}", *measure(lambda: np.matmul(a, b), o))
        impls[f"matmul{n}"] = mm

    def gelu():
        x = f32(S["gelu"], scale=3.0)
        k = np.float32(math.sqrt(2 / math.pi))

        def f():
            u = x * np.float32(1.5) + np.float32(0.5)
            return np.float32(0.5) * u * (np.float32(1) + np.tanh(k * (u + np.float32(0.044715) * u * u * u)))
        return cell("gelu", *measure(f, o))

    def softmax():
        x = f32(*S["softmax"], scale=4.0)

        def f():
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return cell("softmax", *measure(f, o))

    def dispatch():
        d = S["dispatch"]
        x0 = f32(d["size"])

        def f():
            x = x0
            for _ in range(d["ops"]):
                x = x + np.float32(1)
            return x
        return cell("dispatch", *measure(f, o), d["ops"])

    impls.update(gelu=gelu, softmax=softmax, dispatch=dispatch)
    for k in ["conv2d"]:
        impls[k] = lambda: "no convolution in NumPy"
    for k in ["mlp_eager", "mlp_jit", "cnn_eager", "cnn_jit"]:
        impls[k] = lambda: "no autograd in NumPy"
    return impls, {"version": np.__version__}


def torch_impls(torch, S, o):
    import torch.nn.functional as F
    torch.set_num_threads(os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(0)
    f32 = lambda *shape, scale=1.0: (torch.rand(*shape, generator=gen) * 2 - 1) * scale
    impls = {}
    for n in S["matmul"]:
        def mm(n=n):
            a, b = f32(n, n), f32(n, n)
            with torch.inference_mode():
                return cell(f"matmul{n}", *measure(lambda: torch.matmul(a, b), o))
        impls[f"matmul{n}"] = mm

    def conv2d():
        c = S["conv"]
        x = f32(c["n"], c["cin"], c["h"], c["w"])
        w = f32(c["cout"], c["cin"], c["k"], c["k"], scale=0.1)
        b = f32(c["cout"])
        with torch.inference_mode():
            return cell("conv2d", *measure(lambda: F.conv2d(x, w, b, padding=c["pad"]), o))

    def gelu():
        x = f32(S["gelu"], scale=3.0)
        with torch.inference_mode():
            return cell("gelu", *measure(lambda: F.gelu(x * 1.5 + 0.5, approximate="tanh"), o))

    def softmax():
        x = f32(*S["softmax"], scale=4.0)
        with torch.inference_mode():
            return cell("softmax", *measure(lambda: torch.softmax(x, dim=-1), o))

    def one_hot(batch, classes):
        y = torch.zeros(batch, classes)
        for i in range(batch):
            y[i, (i * 7) % classes] = 1
        return y

    def init(shape, fan_in):
        return (f32(*shape) * math.sqrt(6 / fan_in)).requires_grad_()

    def mlp():
        d = S["mlp"]["dims"]
        ps = []
        for i in range(3):
            ps += [init((d[i], d[i + 1]), d[i]), torch.zeros(d[i + 1], requires_grad=True)]

        def loss(x, y):
            h = torch.relu(x @ ps[0] + ps[1])
            h = torch.relu(h @ ps[2] + ps[3])
            return F.cross_entropy(h @ ps[4] + ps[5], y)
        return ps, loss, f32(S["mlp"]["batch"], d[0]), one_hot(S["mlp"]["batch"], 10)

    def cnn():
        shapes = {"c1": (6, 1, 5, 5), "c2": (16, 6, 5, 5), "f1": (400, 120), "f2": (120, 84), "f3": (84, 10)}
        p = {}
        for k, s in shapes.items():
            fan = s[1] * s[2] * s[3] if k[0] == "c" else s[0]
            p[k + "w"] = init(s, fan)
            p[k + "b"] = torch.zeros(s[0] if k[0] == "c" else s[1], requires_grad=True)
        B = S["cnn"]["batch"]

        def loss(x, y):
            h = F.max_pool2d(torch.relu(F.conv2d(x, p["c1w"], p["c1b"], padding=2)), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, p["c2w"], p["c2b"])), 2)
            h = h.reshape(B, 400)
            h = torch.relu(h @ p["f1w"] + p["f1b"])
            h = torch.relu(h @ p["f2w"] + p["f2b"])
            return F.cross_entropy(h @ p["f3w"] + p["f3b"], y)
        return list(p.values()), loss, f32(B, 1, 28, 28), one_hot(B, S["cnn"]["classes"])

    def trainer(wid, build, compiled):
        def go():
            ps, loss, x, y = build()
            if compiled:
                if not hasattr(torch, "compile"):
                    return f"torch.compile needs torch 2 (have {torch.__version__})"
                loss = torch.compile(loss)
            opt = torch.optim.Adam(ps, lr=S["mlp"]["lr"])

            def step():
                opt.zero_grad(set_to_none=True)
                l = loss(x, y)
                l.backward()
                opt.step()
                return l.item()
            return cell(wid, *measure(step, o))
        return go

    def dispatch():
        d = S["dispatch"]
        x0 = f32(d["size"])

        def f():
            x = x0
            for _ in range(d["ops"]):
                x = x + 1
            return x
        with torch.inference_mode():
            return cell("dispatch", *measure(f, o), d["ops"])

    impls.update(conv2d=conv2d, gelu=gelu, softmax=softmax, dispatch=dispatch,
                 mlp_eager=trainer("mlp_eager", mlp, False), mlp_jit=trainer("mlp_jit", mlp, True),
                 cnn_eager=trainer("cnn_eager", cnn, False), cnn_jit=trainer("cnn_jit", cnn, True))
    return impls, {"version": torch.__version__, "threads": torch.get_num_threads()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, choices=["numpy", "torch"])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    S = json.loads(a.spec)
    o = QUICK if a.quick else FULL
    only = set(filter(None, a.only.split(",")))
    if a.lib == "numpy":
        import numpy
        impls, info = numpy_impls(numpy, S, o)
    else:
        import torch
        impls, info = torch_impls(torch, S, o)
    info["python"] = sys.version.split()[0]
    report = {"runner": a.lib, "info": info, "cells": {}, "skipped": {}}
    for wid in ORDER:
        if only and wid not in only:
            continue
        t0 = time.perf_counter()
        try:
            r = impls[wid]()
        except Exception as e:  # a failing row is reported, not fatal
            r = f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        if isinstance(r, str):
            report["skipped"][wid] = r
        else:
            report["cells"][wid] = r
        shown = f'{r["value"]:.3g}' if not isinstance(r, str) else r
        print(f"  {a.lib} {wid}: {shown} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    main()
