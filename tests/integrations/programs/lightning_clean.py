"""A healthy LightningModule: a 2-layer MLP on scikit-learn's digits, Adam at lr 1e-2,
a validation loader; the Trainer runs 4 epochs on the CPU."""
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset


class DigitsMLP(L.LightningModule):
    def __init__(self, hidden=64, lr=1e-2):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    X = (X - X.mean(0)) / (X.std(0) + 1e-6)
    y = torch.tensor(d.target)
    train = DataLoader(TensorDataset(X[:1400], y[:1400]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(X[1400:], y[1400:]), batch_size=256)
    model = DigitsMLP()
    trainer = L.Trainer(max_epochs=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train, val)


if __name__ == "__main__":
    main()
