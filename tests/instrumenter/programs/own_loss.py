"""A model that computes its own loss from targets it is given (``model(idx, targets)``, as
language models and Hugging Face models with ``labels=`` do): no loss call to watch."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
vocab = 12
data = torch.randint(0, vocab, (64, 9))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(vocab, 16)
        self.head = nn.Linear(16, vocab)

    def forward(self, idx, targets=None):
        logits = self.head(self.emb(idx))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, vocab), targets.reshape(-1), ignore_index=-1)


model = TinyLM()
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
for step in range(30):
    batch = data[(step * 8) % 64:(step * 8) % 64 + 8]
    x, y = batch[:, :-1], batch[:, 1:].clone()
    y[0, 0] = -1                     # an ignored position
    _, loss = model(x, targets=y) if step % 2 else model(x, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
