"""Trains a small CNN-free classifier, then treats the trained model the way programs do:
saves it whole and loads it back, deep-copies it, scripts it, prints it. Writes what it saw
to the file named by argv[1] (one line per check) so a test can compare plain and watched runs."""
import copy
import io
import pickle
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


x = torch.randn(64, 8)
y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
model = Net()
criterion = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for i in range(0, 64, 16):
        opt.zero_grad()
        loss = criterion(model(x[i:i + 16]), y[i:i + 16])
        loss.backward()
        opt.step()

lines = []
buf = io.BytesIO()
torch.save(model, buf)
raw = buf.getvalue()
lines.append(f"pickle mentions faultlens: {b'faultlens' in raw}")
buf.seek(0)
loaded = torch.load(buf, weights_only=False)
lines.append(f"loaded equal: {all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))}")
lines.append(f"hooks: {len(model._forward_hooks)} {len(model._forward_pre_hooks)} {len(loaded._forward_hooks)}")
twin = copy.deepcopy(model)
lines.append(f"deepcopy hooks: {len(twin._forward_hooks)} {len(twin._forward_pre_hooks)}")
lines.append(f"pickle dumps mentions faultlens: {b'faultlens' in pickle.dumps(model)}")
lines.append(f"state_dict keys: {list(model.state_dict())}")
lines.append(f"named_modules: {[n for n, _ in model.named_modules()]}")
lines.append(f"repr: {model!r}".replace("\n", " "))
lines.append(f"equality: {model == model} {model == twin}")
scripted = torch.jit.script(model)
with torch.no_grad():
    lines.append(f"scripted agrees: {torch.allclose(scripted(x), model(x))}")
buf2 = io.BytesIO()
torch.jit.save(scripted, buf2)
lines.append(f"jit file mentions faultlens: {b'faultlens' in buf2.getvalue()}")
with open(sys.argv[1], "w") as fh:
    fh.write("\n".join(lines) + "\n")
torch.save(model, sys.argv[1] + ".pt")
