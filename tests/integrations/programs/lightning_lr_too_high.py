"""A LightningModule whose learning rate is far too high: SGD with momentum at lr 50 (the
constructor's default, stored by save_hyperparameters and read in configure_optimizers).
The loss jumps from ln(10) to thousands within a few steps."""
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset


class DigitsMLP(L.LightningModule):
    def __init__(self, hidden=32, lr=50.0):
        super().__init__()
        self.save_hyperparameters()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(DigitsMLP(), loader)


if __name__ == "__main__":
    main()
