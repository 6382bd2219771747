#!/usr/bin/python3
# check-predict.py PROBS.f32 PREDICT.json CONFIG.json: the float32 probabilities another runtime
# wrote (N × classes, in config.json's class order) must be `bottega-cli predict --json`'s for the
# same N images within 1e-4 (config.json gives the class order).
import json
import sys

import numpy as np

probs_path, predict_path, config_path = sys.argv[1:4]
cfg = json.load(open(config_path, encoding="utf-8"))
names = cfg["classes"]
answers = json.loads(open(predict_path, encoding="utf-8").read())
want = np.array([[next(p["probability"] for p in a["predictions"] if p["class"] == n) for n in names]
                 for a in answers])
got = np.fromfile(probs_path, dtype="<f4").reshape(len(answers), len(names))
diff = float(np.abs(got - want).max())
print(f"{len(answers)} images: max abs diff {diff:.3g}, probabilities in [{want.min():.3g}, {want.max():.3g}]")
assert want.max() - want.min() > 1e-3, "degenerate probabilities"
if not diff <= 1e-4:
    print("FAIL: PyTorch disagrees with bottega-cli predict\n", got, "\n", want)
    sys.exit(1)
