#!/usr/bin/python3
"""Writes known-answer.txt: a tiny fixed net computed once with PyTorch (CPU, float64),
independently of Bottega's engine, for test-known-answer.c.

    /usr/bin/python3 tests/engine/make-known-answer.py > tests/engine/known-answer.txt

Net A: x[2,2,5,5] → conv3×3 (3 out, pad 1) + bias → batch norm (training statistics)
       → ReLU → max pool 2×2 → flatten → dense 12→3 → softmax cross-entropy with class
       weights (per sample, by its label) and label smoothing 0.1, summed / batch size.
Net B: x[1,2,6,6] → TFLite-style SAME padding (bottom/right 1) → depthwise conv3×3
       stride 2, multiplier 2 → ReLU6 → average pool 2×2 stride 1 → Σ out·r.
Each line: name count v1 v2 ... (float64 printed with 17 significant digits)."""
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
dt = torch.float64


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, len(v), " ".join("%.17g" % x for x in v))


print("# made by tests/engine/make-known-answer.py with torch", torch.__version__)
# ---- net A ----
x = (torch.rand(2, 2, 5, 5, dtype=dt) * 2 - 1).requires_grad_()
cw = (torch.randn(3, 2, 3, 3, dtype=dt) * 0.5).requires_grad_()
cb = (torch.randn(3, dtype=dt) * 0.1).requires_grad_()
gamma = (1 + 0.2 * torch.randn(3, dtype=dt)).requires_grad_()
beta = (0.1 * torch.randn(3, dtype=dt)).requires_grad_()
dw = (torch.randn(3, 12, dtype=dt) * 0.4).requires_grad_()
db = (torch.randn(3, dtype=dt) * 0.1).requires_grad_()
labels = torch.tensor([2, 0])
weights = torch.tensor([1.0, 0.5, 2.0], dtype=dt)

h = F.conv2d(x, cw, cb, padding=1)
rm = torch.zeros(3, dtype=dt)
rv = torch.ones(3, dtype=dt)
h = F.batch_norm(h, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
h = F.relu(h)
h = F.max_pool2d(h, 2)
h = h.flatten(1)
logits = F.linear(h, dw, db)
probs = F.softmax(logits, dim=1)
# Bottega weights each sample by its label's class weight (PyTorch's label smoothing would
# weight the smoothing term per class instead), so the loss is written out here.
target = F.one_hot(labels, 3).to(dt) * 0.9 + 0.1 / 3
loss = (weights[labels] * -(target * F.log_softmax(logits, dim=1)).sum(1)).sum() / 2
loss.backward()
for name, t in [("a.x", x), ("a.conv_w", cw), ("a.conv_b", cb), ("a.gamma", gamma), ("a.beta", beta),
                ("a.dense_w", dw), ("a.dense_b", db)]:
    emit(name, t)
emit("a.labels", labels)
emit("a.class_weights", weights)
emit("a.probs", probs)
emit("a.loss", loss.reshape(1))
emit("a.running_mean", rm)
emit("a.running_var", rv)
for name, t in [("a.d_x", x), ("a.d_conv_w", cw), ("a.d_conv_b", cb), ("a.d_gamma", gamma),
                ("a.d_beta", beta), ("a.d_dense_w", dw), ("a.d_dense_b", db)]:
    emit(name, t.grad)

# ---- net B ----
x2 = (torch.rand(1, 2, 6, 6, dtype=dt) * 8 - 2).requires_grad_()
w2 = torch.randn(4, 1, 3, 3, dtype=dt).requires_grad_()
b2 = (torch.randn(4, dtype=dt) * 0.5).requires_grad_()
y = F.conv2d(F.pad(x2, (0, 1, 0, 1)), w2, b2, stride=2, groups=2)
y = torch.clamp(y, 0, 6)
y = F.avg_pool2d(y, 2, stride=1)
r = torch.randn_like(y)
out = (y * r).sum()
out.backward()
emit("b.x", x2)
emit("b.w", w2)
emit("b.b", b2)
emit("b.r", r)
emit("b.out", y)
emit("b.d_x", x2.grad)
emit("b.d_w", w2.grad)
emit("b.d_b", b2.grad)
