"""Diabetes progression regression with an MLP and a step learning-rate schedule."""
import torch
from torch import nn
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(11)

BASE_LR = 0.02
LR_DECAY = 0.01
NUM_EPOCHS = 60

X, y = load_diabetes(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=5)
xs = StandardScaler().fit(X_tr)
ys = StandardScaler().fit(y_tr.reshape(-1, 1))
X_tr = torch.tensor(xs.transform(X_tr), dtype=torch.float32)
X_te = torch.tensor(xs.transform(X_te), dtype=torch.float32)
y_tr = torch.tensor(ys.transform(y_tr.reshape(-1, 1)), dtype=torch.float32)
y_te = torch.tensor(ys.transform(y_te.reshape(-1, 1)), dtype=torch.float32)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(10, 16)
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


model = Regressor()
optimizer = torch.optim.SGD(model.parameters(), lr=BASE_LR)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=LR_DECAY)
mse = nn.MSELoss()

for epoch in range(NUM_EPOCHS):
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        loss = mse(model(X_tr[idx]), y_tr[idx])
        loss.backward()
        optimizer.step()
    scheduler.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1} lr {scheduler.get_last_lr()[0]:.2e} loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    pred = model(X_te)
ss_res = torch.sum((pred - y_te) ** 2)
ss_tot = torch.sum((y_te - y_te.mean()) ** 2)
print("FINAL_SCORE val_r2", f"{(1 - ss_res / ss_tot).item():.4f}")
