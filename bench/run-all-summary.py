#!/usr/bin/python3
"""run-all-summary.py RESULTS EPOCHS: the closing table of bench/run-all.sh, and one line per
target of #25 saying whether this run met it. Each side's best round is compared with the other
side's best round, on wall-clock rate and on CPU time per image (the fair figure on a shared
machine); a target is "met" when both are, "met on CPU time only" when only that is."""
import sys

rows = []
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        rows.append(dict(p.split("=", 1) for p in line.split()[1:] if "=" in p))
epochs = int(sys.argv[2])


def pick(**want):
    return [r for r in rows if all(r.get(k) == v for k, v in want.items())]


def best(rs, key):
    vals = [float(r[key]) for r in rs if key in r]
    return max(vals) if vals else None


def least(rs, key):
    vals = [float(r[key]) for r in rs if key in r]
    return min(vals) if vals else None


verdicts = []


def verdict(name, wall, cpu, target):
    if wall is None and cpu is None:
        verdicts.append(f"TARGET {name}: not measured in this run")
        return
    w = f"{wall:.2f}x" if wall is not None else "n/a"
    c = f"{cpu:.2f}x" if cpu is not None else "n/a"
    ok_w, ok_c = wall is not None and wall >= target, cpu is not None and cpu >= target
    state = "MET" if ok_w and ok_c else "met on CPU time only" if ok_c else "met on wall time only" if ok_w else "NOT MET"
    verdicts.append(f"TARGET {name} >= {target}x: {state} (wall {w}, per CPU-second {c})")


print("training (img/s wall, img per CPU-second; each round):")
for preset in ("small-cnn", "mlp"):
    for impl in ("bottega", "bottega-old", "bottega-cli", "pytorch-best", "pytorch-default"):
        rs = [r for r in pick(impl=impl, preset=preset) if "train_ips" in r]
        if rs:
            each = ", ".join(f"{r['train_ips']} ({r.get('cpu_ips', '?')})" for r in rs)
            extra = ""
            if "acc5" in rs[-1] and epochs >= 5:
                extra = f"; test accuracy after 5 epochs {', '.join(r['acc5'] for r in rs)}"
            if "rss_mib" in rs[-1]:
                extra += f"; peak RSS {max(float(r['rss_mib']) for r in rs):.1f} MiB"
            print(f"  {preset:9s} {impl:16s} {each}{extra}")
    new = [r for r in pick(impl="bottega", preset=preset) if "train_ips" in r]
    old = [r for r in pick(impl="bottega-old", preset=preset) if "train_ips" in r]
    if new and old:
        print(f"  {preset:9s} this build over the other (BENCH_OLD_BUILD), best rounds: wall "
              f"{best(new, 'train_ips') / best(old, 'train_ips'):.2f}x, CPU {best(new, 'cpu_ips') / best(old, 'cpu_ips'):.2f}x")

for preset, impl, label in (("small-cnn", "bottega-cli", "Small CNN training, bottega-cli train vs PyTorch best"),
                            ("small-cnn", "bottega", "Small CNN training, bench-train vs PyTorch best"),
                            ("mlp", "bottega", "MLP training, bench-train vs PyTorch best")):
    b = [r for r in pick(impl=impl, preset=preset) if "train_ips" in r]
    t = pick(impl="pytorch-best", preset=preset)
    if b and t:
        verdict(label, best(b, "train_ips") / best(t, "train_ips"), best(b, "cpu_ips") / best(t, "cpu_ips"), 1.5)
    else:
        verdict(label, None, None, 1.5)

lim = pick(impl="limit")
b = [r for r in pick(impl="bottega", preset="small-cnn") if "train_ips" in r]
if lim and b:
    limit = float(lim[0]["limit_ips"])
    threads = int(lim[0]["threads"])
    wall = best(b, "train_ips") / limit
    cpu = best(b, "cpu_ips") * threads / limit
    print(f"GEMM-shape limit: {limit:.0f} img/s on {threads} cores ({lim[0]['shapes_gflops']} GFLOP/s per core at the "
          f"training shapes, {lim[0]['sgemm512_gflops']} at 512³); Bench-train reaches {wall:.0%} of it in wall time, "
          f"{cpu:.0%} on CPU time (img per CPU-second × {threads})")
    verdict("Small CNN training at >= 60% of the GEMM-shape limit (as a fraction / 0.6)", wall / 0.6, cpu / 0.6, 1.0)

if b and epochs >= 5:
    acc = min(float(r["acc5"]) for r in b)
    verdicts.append(f"TARGET Small CNN test accuracy after 5 epochs >= 91.5%: {'MET' if acc >= 0.915 else 'NOT MET'} "
                    f"(lowest of the rounds {acc:.2%})")
else:
    verdicts.append("TARGET Small CNN test accuracy after 5 epochs: not measured (BENCH_EPOCHS < 5)")
rss = [float(r["rss_mib"]) for r in rows if r.get("impl") == "bottega" and "rss_mib" in r]
if rss:
    verdicts.append(f"TARGET peak RSS training Fashion-MNIST <= 150 MiB: {'MET' if max(rss) <= 150 else 'NOT MET'} "
                    f"({max(rss):.1f} MiB)")

print("inference (img/s wall, CPU ms per image; best over rounds):")
for preset in ("small-cnn", "deeper-cnn"):
    for batch in ("256", "1"):
        bo = pick(impl="bottega", preset=preset, batch=batch)
        ort = pick(impl="ort", preset=preset, batch=batch)
        if not bo:
            continue
        old = pick(impl="bottega-im2col", preset=preset, batch=batch)
        other = pick(impl="bottega-old", preset=preset, batch=batch)
        for impl, rs in (("bottega", bo), ("other build", other), ("onnxruntime", ort), ("im2col", old)):
            for t in ("1", "2"):
                sel = [r for r in rs if r["threads"] == t]
                if sel:
                    print(f"  {preset:10s} batch {batch:3s} {impl:11s} {t} thread(s): {best(sel, 'ips'):8.0f} img/s, "
                          f"{least(sel, 'cpu_ms'):.4f} CPU ms/image")
        if old:
            print(f"  {preset:10s} batch {batch:3s} gain over the im2col path: wall "
                  f"{best(bo, 'ips') / best(old, 'ips'):.2f}x, CPU {least(old, 'cpu_ms') / least(bo, 'cpu_ms'):.2f}x")
        if other:
            print(f"  {preset:10s} batch {batch:3s} this build over the other: wall "
                  f"{best(bo, 'ips') / best(other, 'ips'):.2f}x, CPU {least(other, 'cpu_ms') / least(bo, 'cpu_ms'):.2f}x")
        label = f"{preset} inference batch {batch} vs ONNX Runtime (best of 1 and 2 threads, both sides)"
        if ort:
            verdict(label, best(bo, "ips") / best(ort, "ips"), least(ort, "cpu_ms") / least(bo, "cpu_ms"), 1.2)
        else:
            verdict(label, None, None, 1.2)

print()
for v in verdicts:
    print(v)
