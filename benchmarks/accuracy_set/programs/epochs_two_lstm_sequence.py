"""LSTM that tells whether channel 0 rose, fell or stayed level between the two halves."""
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(21)

EPOCHS = 2
SEQ_LEN = 16
HIDDEN = 24


def generate(n):
    x = torch.randn(n, SEQ_LEN, 3)
    diff = x[:, SEQ_LEN // 2:, 0].mean(1) - x[:, :SEQ_LEN // 2, 0].mean(1)
    label = (diff > 0.2).long() - (diff < -0.2).long() + 1
    return x, label


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=3, hidden_size=HIDDEN, batch_first=True)
        self.classifier = nn.Linear(HIDDEN, 3)

    def forward(self, x):
        output, (h_n, c_n) = self.lstm(x)
        return self.classifier(h_n[-1])


train_x, train_y = generate(2000)
val_x, val_y = generate(500)
model = LSTMNet()
optimizer = torch.optim.RMSprop(model.parameters(), lr=3e-4)
loss_function = nn.CrossEntropyLoss()

for epoch in range(EPOCHS):
    model.train()
    shuffle = torch.randperm(len(train_x))
    for start in range(0, len(train_x), 50):
        batch = shuffle[start:start + 50]
        optimizer.zero_grad()
        loss = loss_function(model(train_x[batch]), train_y[batch])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(val_x).argmax(-1) == val_y).float().mean().item()
    print(f"epoch {epoch}: train loss {loss.item():.4f}, val accuracy {accuracy:.4f}")

print(f"FINAL_SCORE val_accuracy {accuracy:.4f}")
