"""build_graph on fixture programs written the way tutorials and pytorch/examples write them."""
from __future__ import annotations

import sys

import pytest

from faultlens.analyzer import ProgramGraph, build_graph

from .analyzer_helpers import check_spans, edges, hp_of, one, text_at

ALL = ["script/train.py", "argparse_main/main.py", "seq/train.py", "rnn/main.py", "gan/dcgan.py",
       "lbfgs/fit.py", "accum/train.py", "config/train.py", "manual_sgd/train.py",
       "factory/train.py", "factory/inherit.py", "argparse_main/split_parser.py",
       "factory/vgg.py"]


@pytest.mark.parametrize("rel", ALL)
def test_spans_are_exact_and_json_round_trips(fixtures, rel):
    path = fixtures / rel
    g = build_graph(path)
    check_spans(g, path.parent)
    g2 = ProgramGraph.from_json(g.to_json())
    assert [n.to_dict() for n in g2.nodes()] == [n.to_dict() for n in g.nodes()]
    assert sorted(edges(g2, "uses")) == sorted(edges(g, "uses"))
    assert g2.unresolved == g.unresolved and g2.files == g.files


def test_build_graph_does_not_import_torch(fixtures):
    code = ("import sys; from faultlens.analyzer import build_graph; "
            f"build_graph({str(fixtures / 'argparse_main/main.py')!r}); "
            "bad = [m for m in ('torch', 'sklearn') if m in sys.modules]; print(bad); assert not bad")
    import subprocess
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------ module-level script
def test_script(fixtures):
    root = fixtures / "script"
    g = build_graph(root / "train.py")
    assert g.entry == "train.py" and g.files == ["train.py"]
    mc = one(g, "module_class", qualname="Net")
    assert mc.span.line == 14
    flow = [n.name for n in g.flow(mc.id)]
    assert flow == ["Net.fc1", "Net.relu", "Net.dropout", "Net.fc2", "Net.log_softmax"]
    lsm = one(g, "op", op="log_softmax")
    assert lsm["dim"] == 1 and lsm["qualname"] == "torch.nn.functional.log_softmax"
    fc1 = one(g, "layer", module_path="fc1")
    assert fc1["layer_type"] == "Linear" and fc1["owner"] == mc.id and fc1.span.line == 17
    # flow edges follow the forward order
    fl = edges(g, "flow")
    assert (fc1.id, one(g, "op", op="relu").id) in fl
    model = one(g, "model")
    assert model["class"] == mc.id and (model.id, mc.id) in edges(g, "instance_of")
    opt = one(g, "optimizer")
    assert opt["optimizer_type"] == "SGD" and opt.span.line == 37
    assert opt["params_model"] == model.id and opt["params_kind"] == "all"
    assert opt["args"]["lr"] == 0.01 and opt["args"]["momentum"] == 0.9
    lr = one(g, "hyperparameter", hp="lr")
    assert lr.name == "LEARNING_RATE" and lr["source"] == "constant" and lr.span.line == 8
    assert text_at(root, lr["value_span"]) == "0.01"
    assert (lr.id, opt.id) in edges(g, "uses")
    assert opt["arg_hps"]["lr"] == lr.id
    assert text_at(root, opt["arg_spans"]["lr"]) == "LEARNING_RATE"
    dl = one(g, "dataloader")
    assert dl["batch_size"] == 32 and dl["shuffle"] is True
    bs = one(g, "hyperparameter", name="BATCH_SIZE")
    assert [h.id for h in hp_of(g, dl.id, "batch_size")] == [bs.id]
    loss = one(g, "loss")
    assert loss["loss_type"] == "NLLLoss" and loss["functional"] is False
    loops = g.nodes("loop")
    roles = [(lp.span.line, lp["role"]) for lp in loops]
    assert roles == [(39, "epoch"), (41, "step"), (50, "other")]
    epoch = loops[0]
    assert epoch["iterations"] == 5
    assert [h.name for h in hp_of(g, epoch.id, "range")] == ["EPOCHS"]
    assert loops[1]["iterates"] == dl.id and (dl.id, loops[1].id) in edges(g, "feeds")
    calls = {(c["method"], c.span.line) for c in g.nodes("call")}
    assert {("train", 40), ("zero_grad", 42), ("forward", 43), ("loss", 44), ("backward", 45),
            ("step", 46), ("eval", 47), ("forward", 51)} <= calls
    fwd = one(g, "call", method="forward", result="output")
    lcall = one(g, "call", method="loss")
    assert (fwd.id, lcall.id) in edges(g, "feeds")
    bw = one(g, "call", method="backward")
    assert bw["target"] == lcall.id
    ctx = one(g, "context")
    assert ctx["ctx"] == "no_grad"
    eval_fwd = [c for c in g.nodes("call", method="forward") if c.span.line == 51][0]
    assert eval_fwd["contexts"] == [ctx.id]
    std = one(g, "transform")
    assert std["transform"] == "standardize" and std["target"] == "X"


# ------------------------------------------------------------------ main() + argparse + local import
def test_argparse_main_and_local_import(fixtures):
    root = fixtures / "argparse_main"
    g = build_graph(str(root / "main.py"))
    assert sorted(g.files) == ["main.py", "model.py"]
    net = one(g, "module_class", qualname="Net")
    assert net.span.path == "model.py"
    deep = one(g, "module_class", qualname="DeepNet")
    assert deep["local_bases"] == [net.id] and deep["forward_from"] == net.id and not g.flow(deep.id)
    assert [n.get("op") or n["module_path"] for n in g.flow(net.id)] == [
        "conv1", "relu", "max_pool2d", "flatten", "fc1", "relu", "fc2", "log_softmax"]
    assert [n["qualname"] for n in g.flow(net.id) if n.kind == "op"][3] == "Tensor.relu"
    hp = {h.name: h for h in g.nodes("hyperparameter", source="argparse")}
    assert hp["batch_size"]["value"] == 64 and hp["batch_size"].span.line == 37
    assert hp["learning_rate"]["hp"] == "lr" and hp["learning_rate"]["flags"] == ["-lr", "--learning-rate"]
    assert hp["learning_rate"]["value"] == 1.0
    assert text_at(root, hp["learning_rate"]["value_span"]) == "1.0"
    assert hp["decay"]["value"] == 0.7 and "gamma" not in hp          # dest=
    assert hp["hidden"]["value"] == 256                                  # type=int applied to '256'
    assert hp["seed"]["resolved"] is False and hp["seed"]["value"] is None
    assert any(u["node"] == hp["seed"].id for u in g.unresolved)
    assert hp["dry_run"]["value"] is False and hp["dry_run"]["resolved"] is True
    opt = one(g, "optimizer")
    assert opt["optimizer_type"] == "Adadelta" and opt["args"]["lr"] == 1.0 and opt.span.line == 63
    assert [h.id for h in hp_of(g, opt.id, "lr")] == [hp["learning_rate"].id]
    model = one(g, "model")
    assert model["class"] == net.id and opt["params_model"] == model.id
    # the call-site value of hidden_size reaches the layers in model.py
    fc1 = one(g, "layer", owner=net.id, module_path="fc1")
    assert fc1["args"]["out_features"] == 256
    assert [h.id for h in hp_of(g, fc1.id, "out_features")] == [hp["hidden"].id]
    sched = one(g, "scheduler")
    assert sched["scheduler_type"] == "StepLR" and sched["optimizer"] == opt.id
    assert [h.id for h in hp_of(g, sched.id, "gamma")] == [hp["decay"].id]
    # DataLoader(**train_kwargs): batch_size from the dict entry, which is defined by args.batch_size
    tl = one(g, "dataloader", var="train_loader")
    assert tl["batch_size"] == 64 and tl["shuffle"] is True
    entry = g.node(tl["arg_hps"]["batch_size"])
    assert entry["source"] == "config" and (hp["batch_size"].id, entry.id) in edges(g, "defines")
    assert text_at(root, tl["arg_spans"]["batch_size"]) == "args.batch_size"
    # parameters of train() bind to main()'s objects
    step = one(g, "loop", role="step")
    assert step["function"] == "train" and step["iterates"] == tl.id
    zg = one(g, "call", method="zero_grad")
    assert zg["target"] == opt.id and zg["function"] == "train"
    epoch = one(g, "loop", role="epoch")
    assert epoch["function"] == "main"
    # args.epochs is reassigned under `if args.dry_run:` -> both definitions reach, no single value
    over = [h for h in g.nodes("hyperparameter") if h.get("overrides") == hp["epochs"].id]
    assert len(over) == 1 and over[0]["value"] == 1
    assert {h.id for h in hp_of(g, epoch.id, "range")} == {hp["epochs"].id, over[0].id}
    assert epoch["range"]["stop"] is None
    fns = {f["qualname"]: f["role"] for f in g.nodes("function")}
    assert fns["main"] == "main" and fns["train"] == "train" and fns["test"] == "evaluate"
    ev = one(g, "call", method="eval")
    assert ev["target"] == model.id
    test_fwd = [c for c in g.nodes("call", method="forward") if c["function"] == "test"][0]
    assert test_fwd["contexts"] and g.node(test_fwd["contexts"][0])["ctx"] == "no_grad"
    floss = [n for n in g.nodes("loss") if n["function"] == "train"][0]
    assert floss["functional"] is True and floss["loss_type"] == "NLLLoss" and floss["var"] is None


# ------------------------------------------------------------------ Sequential / containers / init
def test_sequential_and_containers(fixtures):
    root = fixtures / "seq"
    g = build_graph(root / "train.py")
    model = one(g, "model", var="model")
    assert model["class"] == "torch.nn.Sequential"
    kids = [n for n in g.flow(model.id)]
    assert [(k["module_path"], k["layer_type"]) for k in kids] == [
        ("0", "Linear"), ("1", "ReLU"), ("2", "Linear"), ("3", "Softmax")]
    assert kids[3]["args"]["dim"] == 1
    cls = one(g, "module_class", qualname="Classifier")
    paths = {n["module_path"]: n for n in g.nodes("layer", owner=cls.id)}
    assert {"features", "features.fc", "features.act", "body", "blocks", "head", "head.0", "head.1"} <= set(paths)
    assert paths["features.fc"]["parent"] == paths["features"].id
    # layers built in a loop / comprehension are dynamic, their index is not guessed
    body_kids = [n for n in g.nodes("layer", owner=cls.id) if n.get("parent") == paths["body"].id]
    assert body_kids and all(k["dynamic"] and k["module_path"] == "body.*" for k in body_kids)
    assert [k["layer_type"] for k in body_kids] == ["Linear", "ReLU"]
    blocks = [n for n in g.nodes("layer", owner=cls.id) if n.get("parent") == paths["blocks"].id]
    assert len(blocks) == 1 and blocks[0]["dynamic"] and blocks[0]["module_path"] == "blocks.*"
    assert paths["head.0"]["dynamic"] is False
    flow = [n.get("module_path") or n.get("op") for n in g.flow(cls.id)]
    assert flow == ["features.fc", "features.act", "blocks.*", "tanh", "body.*", "body.*", "view", "head.0", "head.1"]
    inits = {i["fn"]: i for i in g.nodes("init")}
    assert inits["apply"]["applied_fn"] == "self._init_weights" and inits["apply"]["owner"] == cls.id
    assert inits["constant_"]["value"] == 0.0 and inits["xavier_uniform_"]["target"] == "m.weight"
    assert one(g, "function", qualname="Classifier._init_weights")["role"] == "init_fn"
    opt = one(g, "optimizer")
    assert opt["args"]["betas"] == [0.9, 0.999] and opt["args"]["weight_decay"] == 1e-5
    zg = one(g, "call", method="zero_grad")
    assert zg["set_to_none"] is False
    clip = one(g, "call", method="clip_grad_norm_")
    assert clip["args"]["max_norm"] == 1.0 and clip["target"] == model.id
    loop = one(g, "loop")
    assert loop["role"] == "epoch"  # full-batch loop with backward: no data loader
    sc = one(g, "transform", transform="StandardScaler")
    assert sc["target"] == "X"
    clf = one(g, "model", var="clf")
    assert clf["used_in_forward"] is False and model["used_in_forward"] is True


# ------------------------------------------------------------------ getattr(nn, rnn_type), manual SGD
def test_rnn_getattr_and_manual_sgd(fixtures):
    root = fixtures / "rnn"
    g = build_graph(root / "main.py")
    cls = one(g, "module_class", qualname="RNNModel")
    rnn = [n for n in g.nodes("layer", owner=cls.id) if n["attr"] == "rnn"]
    dyn = [n for n in rnn if n["dynamic"]]
    assert len(dyn) == 1 and dyn[0].span.line == 13 and dyn[0]["conditional"] is True
    # the type resolves through the constructor argument, args.model's default 'LSTM'
    assert dyn[0]["layer_type"] == "LSTM"
    model_hp = one(g, "hyperparameter", name="model")
    assert model_hp["value"] == "LSTM"
    assert dyn[0]["args"]["hidden_size"] == 200
    inits = g.nodes("init")
    assert [(i["fn"], i["value"]) for i in inits] == [("uniform_", 0.1), ("zero_", 0), ("uniform_", 0.1)]
    manual = one(g, "optimizer", optimizer_type="manual")
    assert manual["params_model"] == one(g, "model").id and manual.span.line == 38
    assert text_at(root, manual["arg_spans"]["lr"]) == "lr"
    step = one(g, "call", method="step")
    assert step["manual"] is True and step["target"] == manual.id
    # `lr = args.lr`, then `lr /= 4.0` inside the epoch loop: the update starts with args.lr's
    # default (as a torch optimizer's lr under a scheduler) and is marked as varying
    assert manual["lr"] == 20 and manual["lr_varies"] is True
    lr_defs = {h.id for h in g.nodes("hyperparameter", hp="lr")}
    assert any(u in lr_defs for u, v in edges(g, "uses") if v == manual.id) or any(
        u in lr_defs for u, v in edges(g, "defines"))
    loops = {lp.span.line: lp["role"] for lp in g.nodes("loop")}
    assert loops[28] == "step" and loops[41] == "epoch" and loops[37] == "other"
    clip = one(g, "call", method="clip_grad_norm_")
    assert clip["args"]["max_norm"] == 0.25
    zg = one(g, "call", method="zero_grad")
    assert zg["target"] == one(g, "model").id


# ------------------------------------------------------------------ GAN: two models, two optimizers, detach
def test_gan(fixtures):
    g = build_graph(fixtures / "gan" / "dcgan.py")
    netG, netD = one(g, "model", var="netG"), one(g, "model", var="netD")
    oD, oG = one(g, "optimizer", var="optimizerD"), one(g, "optimizer", var="optimizerG")
    assert oD["params_model"] == netD.id and oG["params_model"] == netG.id
    assert (oD.id, netD.id) in edges(g, "params_of") and (oG.id, netG.id) in edges(g, "params_of")
    lr = one(g, "hyperparameter", name="lr")
    assert {v for u, v in edges(g, "uses") if u == lr.id} == {oD.id, oG.id}
    det = [c for c in g.nodes("call", method="forward") if c["detached"]]
    assert len(det) == 1 and det[0]["inputs"] == ["fake.detach()"] and det[0]["target"] == netD.id
    steps = g.nodes("call", method="step")
    assert [s["target"] for s in steps] == [oD.id, oG.id]
    bws = g.nodes("call", method="backward")
    assert len(bws) == 3 and all(b["target"] for b in bws)
    applies = g.nodes("init", fn="apply")
    assert [a["applied_fn"] for a in applies] == ["weights_init", "weights_init"]
    assert one(g, "function", qualname="weights_init")["role"] == "init_fn"
    normals = g.nodes("init", fn="normal_")
    assert [n["value"] for n in normals] == [0.02, 0.02]
    disc = one(g, "module_class", qualname="Discriminator")
    assert [n.get("layer_type") or n.get("op") for n in g.flow(disc.id)] == [
        "Linear", "LeakyReLU", "Linear", "Sigmoid", "view", "squeeze"]
    assert one(g, "loop", role="step")["iterates"] == one(g, "dataloader").id


# ------------------------------------------------------------------ LBFGS closure
def test_lbfgs_closure(fixtures):
    g = build_graph(fixtures / "lbfgs" / "fit.py")
    opt = one(g, "optimizer")
    assert opt["optimizer_type"] == "LBFGS" and opt["args"]["lr"] == 0.8
    step = one(g, "call", method="step")
    assert step["closure"] == "closure" and step["in_closure"] is False
    inner = [c for c in g.nodes("call") if c["function"] == "closure"]
    assert {c["method"] for c in inner} == {"zero_grad", "forward", "loss", "backward"}
    assert all(c["in_closure"] for c in inner)
    assert one(g, "function", qualname="closure")["role"] == "closure"
    loop = one(g, "loop")
    assert loop["role"] == "epoch"
    epochs = one(g, "hyperparameter", hp="epochs")
    assert epochs["value"] == 15 and epochs["source"] == "literal"
    ctx = one(g, "context")
    assert ctx["ctx"] == "inference_mode"
    seq = one(g, "module_class", qualname="Sequence")
    assert [n.get("module_path") or n.get("op") for n in g.flow(seq.id)] == ["split", "lstm1", "linear", "cat"]


# ------------------------------------------------------------------ config dict, gradient accumulation
def test_config_dict_and_accumulation(fixtures):
    root = fixtures / "accum"
    g = build_graph(root / "train.py")
    cfg_lr = [h for h in g.nodes("hyperparameter", hp="lr") if h["source"] == "config"]
    first = [h for h in cfg_lr if h.span.line == 5][0]
    over = [h for h in cfg_lr if h.span.line == 12][0]
    assert first["value"] == 0.05 and over["value"] == 0.1 and over["overrides"] == first.id
    assert text_at(root, first["value_span"]) == "0.05"
    opt = one(g, "optimizer")
    assert opt["args"]["lr"] == 0.2  # cfg["lr"] * 2 with cfg bound to config at main(config)
    arith = g.node(opt["arg_hps"]["lr"])
    assert arith["source"] == "arith" and (over.id, arith.id) in edges(g, "defines")
    assert opt["args"]["weight_decay"] == 0.0005  # cfg.get("weight_decay", 0.0)
    dl = one(g, "dataloader")
    assert dl["batch_size"] == 16 and dl["args"]["drop_last"] is True
    model = one(g, "model")
    assert model["class"] == "torch.nn.Sequential" and opt["params_model"] == model.id
    loops = {lp["role"]: lp for lp in g.nodes("loop")}
    assert loops["epoch"]["iterations"] == 3 and loops["step"]["iterates"] == dl.id
    step = one(g, "call", method="step")
    assert step["loop"] == loops["step"].id
    assert not [h for h in g.nodes("hyperparameter") if h.name == "loss"]  # tensors are not hyperparameters


def test_dataclass_config(fixtures):
    g = build_graph(fixtures / "config" / "train.py")
    fields = {h.name: h for h in g.nodes("hyperparameter") if h.get("owner_class") == "TrainConfig"}
    assert {k: v["value"] for k, v in fields.items()} == {"lr": 1e-3, "batch_size": 8, "epochs": 2, "hidden_size": 24}
    opt = one(g, "optimizer")
    assert opt["args"]["lr"] == 1e-3 and opt["arg_hps"]["lr"] == fields["lr"].id
    loop = one(g, "loop")
    assert loop["iterations"] == 5  # TrainConfig(epochs=5) overrides the field default
    kw = g.node([u for u, v, d in g.edges("uses") if v == loop.id][0])
    assert kw["value"] == 5 and kw.span.line == 38
    fc1 = one(g, "layer", module_path="fc1")
    assert fc1["args"]["out_features"] == 24
    fl = one(g, "call", method="loss")
    fwd = one(g, "call", method="forward")
    assert (fwd.id, fl.id) in edges(g, "feeds")
    assert one(g, "loss")["loss_type"] == "CrossEntropyLoss"


def test_manual_sgd_no_grad(fixtures):
    root = fixtures / "manual_sgd"
    g = build_graph(root / "train.py")
    opt = one(g, "optimizer")
    assert opt["optimizer_type"] == "manual" and opt["args"]["lr"] == 0.05
    lr = one(g, "hyperparameter", name="learning_rate")
    assert opt["arg_hps"]["lr"] == lr.id
    zg = g.nodes("call", method="zero_grad")
    assert [z["manual"] for z in zg] == [False, True]
    assert zg[0]["target"] == one(g, "model").id and zg[1]["receiver"] == "param.grad"
    ctx = one(g, "context")
    st = one(g, "call", method="step")
    assert st["contexts"] == [ctx.id]
    assert one(g, "loop", role="epoch")


def test_layer_for_runtime_paths(fixtures):
    g = build_graph(fixtures / "seq" / "train.py")
    cls = one(g, "module_class", qualname="Classifier")
    assert g.layer_for_path(cls.id, "features.fc")["layer_type"] == "Linear"
    assert g.layer_for_path(cls.id, "blocks.2")["module_path"] == "blocks.*"
    assert g.layer_for_path(cls.id, "head.1")["module_path"] == "head.1"
    assert g.layer_for_path(cls.id, "head")["layer_type"] == "Sequential"
    assert g.layer_for_path(cls.id, "nope") is None
    model = one(g, "model", var="model")
    assert g.layer_for_path(model.id, "3")["layer_type"] == "Softmax"
    # nested local classes: DeepNet inherits Net's layers
    g2 = build_graph(fixtures / "argparse_main" / "main.py")
    deep = one(g2, "module_class", qualname="DeepNet")
    assert g2.layer_for_path(deep.id, "fc1")["owner"] == one(g2, "module_class", qualname="Net").id
    assert g2.layer_for_path(deep.id, "extra")["owner"] == deep.id


def test_factory_model_sits_at_the_caller(fixtures):
    root = fixtures / "accum"
    g = build_graph(root / "train.py")
    model = one(g, "model")
    assert model["var"] == "model" and model.span.line == 22 and model["factory"] == "make_model"
    assert text_at(root, model["factory_span"]).startswith("return nn.Sequential(")
    kids = g.flow(model.id)
    assert [k["args"].get("out_features") for k in kids] == [32, None, 2]  # hidden=32 from make_model(32)


def test_nested_local_module_classes(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\n"
        "class Block(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
        "        self.fc = nn.Linear(d, d)\n        self.act = nn.GELU()\n\n"
        "    def forward(self, x):\n        return x + self.act(self.fc(x))\n\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.blocks = nn.ModuleList([Block(8), Block(8)])\n        self.head = nn.Linear(8, 2)\n\n"
        "    def forward(self, x):\n        for b in self.blocks:\n            x = b(x)\n"
        "        return self.head(x).softmax(dim=-1)\n\n"
        "net = Net()\n")
    g = build_graph(tmp_path / "m.py")
    net = [n for n in g.nodes("module_class") if n["qualname"] == "Net"][0]
    block = [n for n in g.nodes("module_class") if n["qualname"] == "Block"][0]
    kids = [n for n in g.nodes("layer", owner=net.id) if n.get("parent")]
    assert [(k["module_path"], k["class_ref"]) for k in kids] == [("blocks.0", block.id), ("blocks.1", block.id)]
    assert [n.get("module_path") or n.get("op") for n in g.flow(net.id)] == ["blocks.0", "blocks.1", "head", "softmax"]
    assert g.flow(net.id)[-1]["dim"] == -1
    assert g.layer_for_path(net.id, "blocks.1.fc")["owner"] == block.id
    assert [n.get("module_path") or n.get("op") for n in g.flow(block.id)] == ["fc", "act"]


def test_layers_built_in_helper_functions(fixtures):
    root = fixtures / "factory"
    g = build_graph(root / "train.py")
    cls = one(g, "module_class", qualname="AutoEncoder")
    layers = {n["module_path"]: n for n in g.nodes("layer", owner=cls.id)}
    assert set(layers) == {"encoder", "encoder.0", "encoder.1", "encoder.2", "decoder", "decoder.0",
                           "decoder.1", "head"}
    # spans sit at the construction inside the helper (also in an imported file)
    enc0 = layers["encoder.0"]
    assert enc0.span.path == "blocks.py" and enc0["factory"] == "build_mlp"
    assert text_at(root, enc0["expr_span"]) == "nn.Linear(d_in, hidden)"
    assert enc0["args"] == {"in_features": 64, "out_features": 64}  # d_in=64 from build_mlp(64, 16)
    assert layers["encoder.2"]["args"]["out_features"] == 16
    assert layers["encoder.0"]["parent"] == layers["encoder"].id
    assert layers["decoder.1"]["layer_type"] == "Tanh" and layers["decoder.1"]["factory"] == "make_decoder"
    assert text_at(root, layers["decoder"].span).startswith("return nn.Sequential(")
    head = layers["head"]
    assert head["factory"] == "make_head" and text_at(root, head.span) == "head = nn.Linear(32, n)"
    assert head["args"]["out_features"] == 10
    # the forward flow expands the helper-built Sequentials like any other
    assert [n.get("module_path") or n.get("op") for n in g.flow(cls.id)] == \
        ["encoder.0", "encoder.1", "encoder.2", "decoder.0", "decoder.1", "head", "log_softmax"]
    assert g.layer_for_path(cls.id, "decoder.0")["layer_type"] == "Linear"
    assert g.layer_for_path(cls.id, "encoder")["layer_type"] == "Sequential"
    # layers built directly in __init__ carry no factory
    g2 = build_graph(fixtures / "seq" / "train.py")
    assert all(n.get("factory") is None for n in g2.nodes("layer"))


def test_helper_built_children_of_a_sequential(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\n"
        "def block(d):\n    return nn.Sequential(nn.Linear(d, d), nn.ReLU())\n\n"
        "def not_a_layer():\n    return 3\n\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.body = nn.Sequential(block(4), nn.Linear(4, 2))\n        self.k = not_a_layer()\n\n"
        "    def forward(self, x):\n        return self.body(x)\n")
    g = build_graph(tmp_path / "m.py")
    net = one(g, "module_class", qualname="Net")
    assert [(n["module_path"], n.get("factory")) for n in g.flow(net.id)] == \
        [("body.0.0", "block"), ("body.0.1", "block"), ("body.1", None)]
    assert not [n for n in g.nodes("layer") if n["attr"] == "k"]


def test_super_forward_is_inlined(fixtures):
    g = build_graph(fixtures / "factory" / "inherit.py")
    cls = {c["qualname"]: c for c in g.nodes("module_class")}

    def flow(q):
        return [(n.get("module_path") or n.get("op"), n["owner"]) for n in g.flow(cls[q].id)]

    base, mid, child = cls["Base"].id, cls["Mid"].id, cls["Child"].id
    assert flow("Base") == [("fc1", base), ("act", base)]
    assert flow("Mid") == [("fc1", base), ("act", base), ("dropout", mid)]
    # Child -> Mid.forward (super) -> Base.forward (super inside Mid), then its own layers
    assert flow("Child") == [("fc1", base), ("act", base), ("dropout", child), ("out", child),
                             ("log_softmax", child)]
    assert cls["Child"]["forward"][-1] == one(g, "op", owner=child, op="log_softmax").id


def test_args_attributes_resolve_when_add_argument_is_in_another_function(fixtures):
    g = build_graph(fixtures / "argparse_main" / "split_parser.py")
    opt = one(g, "optimizer")
    assert opt["lr"] == 0.05 and not opt["lr_is_default"]
    assert [n["value"] for n in hp_of(g, opt.id, "lr")] == [0.05]
    assert one(g, "dataloader")["batch_size"] == 32
    epoch = one(g, "loop", role="epoch")
    assert epoch["iterations"] == 7 and [n["hp"] for n in hp_of(g, epoch.id, "range")] == ["epochs"]
    assert all(n["source"] == "argparse" for n in g.nodes("hyperparameter") if n["hp"] in ("lr", "batch_size", "epochs"))
    assert not g.unresolved


def test_helper_method_builds_layers_in_a_loop(fixtures):
    root = fixtures / "factory"
    g = build_graph(root / "vgg.py")
    cls = one(g, "module_class", qualname="VGG")
    feats = [n for n in g.nodes("layer", owner=cls.id) if n["module_path"] == "features.*"]
    # self._make_layers(cfg): both `layers += [...]` branches inside the loop, in source order
    assert [n["layer_type"] for n in feats] == ["MaxPool2d", "Conv2d", "ReLU"]
    assert all(n["dynamic"] and n["factory"] == "VGG._make_layers" for n in feats)
    assert text_at(root, feats[0]["expr_span"]) == "nn.MaxPool2d(kernel_size=2, stride=2)"
    assert g.layer_for_path(cls.id, "features.3")["module_path"] == "features.*"
    assert [n.get("module_path") or n.get("op") for n in g.flow(cls.id)] == \
        ["features.*", "features.*", "features.*", "view", "classifier"]


def test_values_reassigned_in_a_loop_are_not_guessed(fixtures):
    g = build_graph(fixtures / "factory" / "vgg.py")
    conv = one(g, "layer", layer_type="Conv2d")
    # `in_channels = x` later in the loop body reaches the Conv2d on the next pass: 3 or x
    assert conv["args_resolved"]["in_channels"] is False and conv["args"]["in_channels"] == "in_channels"
    assert conv["args_resolved"]["out_channels"] is False and conv["args"]["out_channels"] == "x"
    # loop-invariant arguments still resolve
    assert conv["args"]["kernel_size"] == 3 and conv["args_resolved"]["kernel_size"] is True
    # the definition before the loop is still one of the reaching definitions
    assert [(h.name, h["value"]) for h in hp_of(g, conv.id, "in_channels")] == [("in_channels", 3)]


def test_loop_back_edges(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        k = 3\n"
        "        width = 8\n"
        "        same = 16\n"
        "        layers = []\n"
        "        for i in range(4):\n"
        "            layers.append(nn.Conv1d(width, same, k))\n"
        "            if i > 1:\n"
        "                width = 16\n"
        "            same = 16\n"
        "            h = 32\n"
        "            h *= 2\n"
        "            layers.append(nn.Linear(same, h))\n"
        "        self.body = nn.Sequential(*layers)\n"
        "        scale = 2\n"
        "        for i in range(2):\n"
        "            scale = 4\n"
        "        self.fc = nn.Linear(16, scale)\n"
        "        n = 5\n"
        "        while n > 1:\n"
        "            n -= 1\n"
        "        self.fc2 = nn.Linear(16, n)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc2(self.fc(self.body(x)))\n\n\n"
        "net = Net()\n")
    g = build_graph(tmp_path / "m.py")
    conv = one(g, "layer", layer_type="Conv1d")
    # a later (conditional) redefinition in the loop body reaches on the back edge
    assert conv["args_resolved"] == {"in_channels": False, "out_channels": True, "kernel_size": True}
    # constant defined before the loop, never redefined: resolves; redefined to the same value: resolves
    assert conv["args"]["kernel_size"] == 3 and conv["args"]["out_channels"] == 16
    # redefined earlier in the same pass before the use: the back edge is cut, `h *= 2` gives 64
    inner = [n for n in g.nodes("layer", layer_type="Linear") if n["module_path"] == "body.*"]
    assert len(inner) == 1 and inner[0]["args"] == {"in_features": 16, "out_features": 64}
    # a definition in a loop body seen after the loop: the loop may not run, so 2 or 4
    fc = one(g, "layer", module_path="fc")
    assert fc["args_resolved"]["out_features"] is False
    # an update in a while loop: unresolved after it
    fc2 = one(g, "layer", module_path="fc2")
    assert fc2["args_resolved"]["out_features"] is False and fc2["args"]["out_features"] == "n"
