from torch import nn


def make_encoder(n_in, code):
    return nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, code))


def make_decoder(code, n_out):
    return nn.Sequential(nn.Linear(code, 32), nn.ReLU(), nn.Linear(32, n_out), nn.Sigmoid())


class Autoencoder(nn.Module):
    def __init__(self, n_in=64, code=12):
        super().__init__()
        self.encoder = make_encoder(n_in, code)
        self.decoder = make_decoder(code, n_in)

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z)
