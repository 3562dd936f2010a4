"""Models wrapped in DataParallel / DistributedDataParallel (as pytorch/examples' imagenet does)."""
from faultlens.analyzer import build_graph

SOURCE = '''\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


model = Net()
model = torch.nn.DataParallel(model).cuda()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
'''


def test_wrapped_model_resolves_to_the_inner_model():
    g = build_graph(SOURCE)
    (opt,) = g.nodes("optimizer")
    models = {m.id for m in g.nodes("model")}
    assert opt.get("params_model") in models
    assert g.node(opt.get("params_model")).span.line == 14
