"""A tutorial shape: a module is tried out with gradients on before the model that is trained
is built, and the loop feeds one sample of a Python list per step."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
lin = nn.Linear(5, 3)            # a demo of nn.Linear, never trained
print(lin(torch.randn(2, 5)).shape)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=1)


data = [(torch.randn(1, 4) + (2.0 if i % 2 else -2.0), torch.tensor([i % 2])) for i in range(6)]
model = Classifier()
loss_function = nn.NLLLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(5):
    for x, y in data:
        model.zero_grad()
        loss = loss_function(model(x), y)
        loss.backward()
        optimizer.step()
print("done", loss.item())
