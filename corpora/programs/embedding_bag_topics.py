"""Bag-of-words topic classifier with nn.EmbeddingBag (mean mode) over generated "documents":
each topic prefers its own slice of the vocabulary. Adagrad, CrossEntropyLoss, offsets batching.

Data generated with numpy's seeded RandomState. Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

VOCAB, N_TOPICS = 200, 4


def make_corpus(n_docs, rng):
    docs, labels = [], []
    topic_words = np.array_split(np.arange(VOCAB), N_TOPICS)
    for _ in range(n_docs):
        topic = rng.randint(N_TOPICS)
        length = rng.randint(5, 15)
        n_topic = rng.binomial(length, 0.4)
        words = np.concatenate([rng.choice(topic_words[topic], n_topic),
                                rng.randint(0, VOCAB, length - n_topic)])
        docs.append(torch.tensor(words, dtype=torch.long))
        labels.append(topic)
    return docs, torch.tensor(labels)


def collate(docs):
    offsets = torch.tensor([0] + [len(d) for d in docs[:-1]]).cumsum(0)
    return torch.cat(docs), offsets


class BagClassifier(nn.Module):
    def __init__(self, dim=24):
        super().__init__()
        self.bag = nn.EmbeddingBag(VOCAB, dim, mode="mean")
        self.fc = nn.Linear(dim, N_TOPICS)

    def forward(self, flat, offsets):
        return self.fc(self.bag(flat, offsets))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    train_docs, train_y = make_corpus(1200, rng)
    test_docs, test_y = make_corpus(300, rng)
    model = BagClassifier()
    optimizer = torch.optim.Adagrad(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_docs)).tolist()
        for i in range(0, len(order), 32):
            batch = order[i:i + 32]
            flat, offsets = collate([train_docs[j] for j in batch])
            optimizer.zero_grad()
            loss = criterion(model(flat, offsets), train_y[batch])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        flat, offsets = collate(test_docs)
        acc = (model(flat, offsets).argmax(1) == test_y).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
