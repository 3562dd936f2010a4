"""Write manifest.json from the entry specs below, resolving fault lines from anchors.

Line numbers in the manifest are never typed by hand: each fault line is given here as a
substring that must occur on exactly one line of the program file, and this script turns it
into a 1-based line number (and records the line's text as ``line_text`` so that the tests can
detect a manifest that went stale after an edit).  ``fix`` entries are located the same way from
their ``from`` text (or an explicit ``anchor``).  ``measured`` fields already in manifest.json are
kept; they are produced by ``verify.py --write``.

    python benchmarks/accuracy_set/build_manifest.py          # write manifest.json
    python benchmarks/accuracy_set/build_manifest.py --docs   # also refresh the table in docs/accuracy-set.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"

FAULT_TYPES = (
    "learning_rate", "optimizer", "loss_function", "activation", "weight_initialization",
    "data_preprocessing", "epochs", "batch_size", "regularization", "training_loop",
    "architecture", "data",
)


def E(id, path, verdict, fault_type, lines, description, arch, style, fix=None, fault_path=None,
      argv=(), min_score=None):
    return dict(id=id, path=path, verdict=verdict, fault_type=fault_type, anchors=lines,
                description=description, arch=arch, style=style, fix=fix, fault_path=fault_path,
                argv=list(argv), min_score=min_score)


def F(frm, to, anchor=None, file=None):
    d = {"from": frm, "to": to}
    if anchor:
        d["anchor"] = anchor
    if file:
        d["file"] = file
    return d


P = "programs/"
SPECS = [
    # ---------------------------------------------------------------- clean programs
    E("clean_mlp_digits", P + "clean_mlp_digits.py", "healthy", None, [],
      "two-hidden-layer ReLU MLP, Adam 1e-3, standardized digits", "mlp", "module-script",
      min_score=0.9),
    E("clean_gru_sequence", P + "clean_gru_sequence.py", "healthy", None, [],
      "GRU classifier on synthetic sequences, Adam 3e-3", "gru", "module-script", min_score=0.8),
    E("clean_regression_diabetes", P + "clean_regression_diabetes.py", "healthy", None, [],
      "tanh MLP regression, SGD+momentum, standardized inputs and target", "regression",
      "module-script-sequential", min_score=0.3),
    E("clean_autoencoder_digits", P + "clean_autoencoder_digits.py", "healthy", None, [],
      "dense autoencoder with sigmoid output on [0,1] pixels", "autoencoder", "module-script",
      min_score=0.55),
    E("clean_resnet_wine", P + "clean_resnet_wine/train.py", "healthy", None, [],
      "pre-norm residual MLP (model in model.py), AdamW", "resnet", "program-dir", min_score=0.9),
    E("clean_cnn_bn_digits", P + "clean_cnn_bn_digits/train.py", "healthy", None, [],
      "BatchNorm CNN (model.py), SGD+momentum, cosine schedule, DataLoader", "cnn", "program-dir",
      min_score=0.9),
    E("clean_moons_sequential", P + "clean_moons_sequential.py", "healthy", None, [],
      "tanh nn.Sequential on two moons, Adam 1e-2", "mlp", "module-script-sequential",
      min_score=0.9),
    E("clean_cancer_functional", P + "clean_cancer_functional.py", "healthy", None, [],
      "functional forward with F.dropout(training=self.training), BCE with logits", "mlp",
      "functional-forward", min_score=0.9),
    E("clean_lstm_sine_regression", P + "clean_lstm_sine_regression.py", "healthy", None, [],
      "LSTM next-value regression on noisy sine waves, gradient clipping", "lstm",
      "module-script", min_score=0.8),
    E("clean_iris_dropout_sgd", P + "clean_iris_dropout_sgd.py", "healthy", None, [],
      "dropout MLP with SGD+momentum, early stopping and best-state restore", "mlp",
      "main-argparse-sequential", min_score=0.85),
    E("clean_manual_sgd_classification", P + "clean_manual_sgd_classification.py", "healthy",
      None, [], "hand-written SGD update (p.add_(p.grad, alpha=-lr)) on make_classification",
      "mlp", "manual-update", min_score=0.85),
    E("clean_conv_autoencoder", P + "clean_conv_autoencoder.py", "healthy", None, [],
      "strided-conv / transposed-conv autoencoder, two modules, one Adam", "autoencoder",
      "main-argparse", min_score=0.8),
    # ---------------------------------------------------------------- learning_rate
    E("lr_sgd_too_high_digits", P + "lr_sgd_too_high_digits.py", "faulty", "learning_rate",
      ["LEARNING_RATE = 10.0", "lr=LEARNING_RATE"],
      "plain SGD with lr=10: loss jumps to a plateau, accuracy at chance", "mlp",
      "module-script-sequential", fix=F("LEARNING_RATE = 10.0", "LEARNING_RATE = 0.1")),
    E("lr_tiny_cnn_digits", P + "lr_tiny_cnn_digits.py", "faulty", "learning_rate",
      ['"--lr", type=float, default=1e-7', "lr=args.lr"],
      "argparse default lr=1e-7 for Adam: weights barely move", "cnn", "main-argparse",
      fix=F("default=1e-7", "default=1e-3")),
    E("lr_adam_one_gru", P + "lr_adam_one_gru.py", "faulty", "learning_rate",
      ['"--lr", type=float, default=1.0', "lr=args.learning_rate"],
      "Adam with lr=1.0 on a GRU: loss oscillates, accuracy far below the fixed run", "gru",
      "main-argparse", fix=F("default=1.0", "default=3e-3")),
    E("lr_decay_collapse_diabetes", P + "lr_decay_collapse_diabetes.py", "faulty", "learning_rate",
      ["LR_DECAY = 0.01", "gamma=LR_DECAY"],
      "StepLR gamma=0.01 every epoch: the lr is ~0 after two epochs, the regressor underfits",
      "regression", "module-script", fix=F("LR_DECAY = 0.01", "LR_DECAY = 0.95")),
    # ---------------------------------------------------------------- optimizer
    E("opt_momentum_999_digits", P + "opt_momentum_999_digits.py", "faulty", "optimizer",
      ["momentum=0.999"],
      "SGD momentum 0.999 (effective step x1000): loss blows up, accuracy at chance", "mlp",
      "functional-params", fix=F("momentum=0.999", "momentum=0.9")),
    E("opt_stale_model_cancer", P + "opt_stale_model_cancer.py", "faulty", "optimizer",
      ["optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)", "model = Classifier(X_tr.shape[1])"],
      "optimizer built on a model instance that is then replaced: the trained model never updates",
      "mlp", "main-argparse",
      fix=F("model = Classifier(X_tr.shape[1])",
            "model = Classifier(X_tr.shape[1]); optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)")),
    E("opt_adam_eps_cnn", P + "opt_adam_eps_cnn/train.py", "faulty", "optimizer",
      ['default=1.0, help="Adam epsilon"', "eps=args.eps"],
      "Adam eps=1.0 (instead of 1e-8): updates ~1e-5, the CNN does not learn", "cnn",
      "program-dir", fix=F("default=1.0, help", "default=1e-8, help")),
    E("opt_encoder_params_only_ae", P + "opt_encoder_params_only_ae.py", "faulty", "optimizer",
      ["torch.optim.Adam(model.encoder.parameters()"],
      "optimizer gets only the encoder's parameters: the decoder stays random", "autoencoder",
      "module-script", fix=F("model.encoder.parameters()", "model.parameters()")),
    # ---------------------------------------------------------------- loss_function
    E("loss_mse_class_index_digits", P + "loss_mse_class_index_digits.py", "faulty", "loss_function",
      ["criterion = nn.MSELoss()", "loss = criterion(logits, y_tr[idx].float().unsqueeze(1))"],
      "MSELoss between 10 logits and the class index (broadcast): argmax is meaningless", "mlp",
      "main-argparse-sequential",
      fix=[F("nn.MSELoss()", "nn.CrossEntropyLoss()"),
           F("y_tr[idx].float().unsqueeze(1))", "y_tr[idx])")]),
    E("loss_nll_raw_logits_cnn", P + "loss_nll_raw_logits_cnn.py", "faulty", "loss_function",
      ["criterion = nn.NLLLoss()", "loss = criterion(output, tr_y[idx])"],
      "NLLLoss on raw logits (no log_softmax): loss unbounded below, accuracy near chance", "cnn",
      "module-script", fix=F("nn.NLLLoss()", "nn.CrossEntropyLoss()")),
    E("loss_bce_on_logits_cancer", P + "loss_bce_on_logits_cancer.py", "crashed", "loss_function",
      ["criterion = nn.BCELoss()", "loss = criterion(net(xb), yb)"],
      "BCELoss on unbounded logits: RuntimeError, inputs must lie in [0, 1]", "mlp",
      "module-script", fix=F("nn.BCELoss()", "nn.BCEWithLogitsLoss()")),
    E("loss_broadcast_regression", P + "loss_broadcast_regression.py", "faulty", "loss_function",
      ["loss = loss_fn(pred, y_tr)", "loss_fn = nn.MSELoss()"],
      "MSELoss of (N,1) predictions against (N,) targets broadcasts to NxN: fits the mean, R2~0",
      "regression", "main-argparse", fix=F("loss_fn(pred, y_tr)", "loss_fn(pred.squeeze(1), y_tr)")),
    # ---------------------------------------------------------------- activation
    E("act_deep_sigmoid_digits", P + "act_deep_sigmoid_digits.py", "faulty", "activation",
      ["layers += [nn.Linear(d_in, d_out), nn.Sigmoid()]", "return self.net(x)"],
      "six sigmoid hidden layers: vanishing gradients, accuracy at chance", "mlp",
      "module-script-sequential", fix=F("nn.Sigmoid()", "nn.ReLU()")),
    E("act_softmax_before_ce_cnn", P + "act_softmax_before_ce_cnn.py", "faulty", "activation",
      ["self.softmax = nn.Softmax(dim=1)", "return self.softmax(x)"],
      "softmax output fed to CrossEntropyLoss (double softmax): gradients shrink, slow learning",
      "cnn", "module-script", fix=F("return self.softmax(x)", "return x")),
    E("act_relu_output_regression", P + "act_relu_output_regression.py", "faulty", "activation",
      ["nn.Linear(32, 1), nn.ReLU(),", "loss = criterion(model(X_train[idx]), y_train[idx])"],
      "ReLU on the output of a regressor with standardized (signed) targets", "regression",
      "module-script-sequential", fix=F("nn.Linear(32, 1), nn.ReLU(),", "nn.Linear(32, 1),")),
    E("act_sigmoid_output_ae", P + "act_sigmoid_output_ae/train.py", "faulty", "activation",
      ["nn.Linear(32, n_out), nn.Sigmoid())", "return self.decoder(z)"],
      "sigmoid decoder output while the inputs are z-scored (negative, >1)", "autoencoder",
      "program-dir", fault_path=P + "act_sigmoid_output_ae/model.py",
      fix=F("nn.Linear(32, n_out), nn.Sigmoid())", "nn.Linear(32, n_out))")),
    # ---------------------------------------------------------------- weight_initialization
    E("init_zeros_mlp_digits", P + "init_zeros_mlp_digits.py", "faulty", "weight_initialization",
      ["nn.init.zeros_(m.weight)", "self.apply(self._init_weights)"],
      "all Linear weights initialised to zero: ReLU units never get a gradient", "mlp",
      "main-argparse", fix=F("nn.init.zeros_(m.weight)", 'nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")')),
    E("init_constant_sequential_digits", P + "init_constant_sequential_digits.py", "faulty",
      "weight_initialization", ["nn.init.constant_(layer.weight, 0.05)"],
      "constant weight init: every hidden unit identical (symmetry never broken)", "mlp",
      "module-script-sequential",
      fix=F("nn.init.constant_(layer.weight, 0.05)", "nn.init.xavier_uniform_(layer.weight)")),
    E("init_normal_std10_cnn", P + "init_normal_std10_cnn.py", "faulty", "weight_initialization",
      ["INIT_STD = 10.0", "nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)"],
      "normal init with std=10: huge logits, saturated softmax, no learning", "cnn",
      "module-script", fix=F("INIT_STD = 10.0", "INIT_STD = 0.1")),
    E("init_uniform_positive_resnet", P + "init_uniform_positive_resnet/train.py", "faulty",
      "weight_initialization", ["nn.init.uniform_(m.weight, 0.0, 1.0)", "self.reset_parameters()"],
      "all-positive U(0,1) weights in a residual MLP: activations grow ~x30 per block, loss ~1e10",
      "resnet", "program-dir", fault_path=P + "init_uniform_positive_resnet/model.py",
      fix=F("nn.init.uniform_(m.weight, 0.0, 1.0)", 'nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")')),
    # ---------------------------------------------------------------- data_preprocessing
    E("prep_unscaled_train_wine", P + "prep_unscaled_train_wine.py", "faulty", "data_preprocessing",
      ["train_x = torch.tensor(X_train, dtype=torch.float32)"],
      "training tensor built from the unscaled features while validation uses the scaled ones",
      "mlp", "module-script-sequential",
      fix=F("torch.tensor(X_train, dtype", "torch.tensor(X_train_s, dtype")),
    E("prep_raw_pixels_cnn", P + "prep_raw_pixels_cnn.py", "faulty", "data_preprocessing",
      ["images = digits.images.astype(np.float32)"],
      "raw 0-16 pixel values fed to a CNN trained with SGD+momentum: unstable, poor accuracy", "cnn",
      "main-argparse", fix=F("images = digits.images.astype(np.float32)",
                             "images = digits.images.astype(np.float32) / 16.0")),
    E("prep_unscaled_target_diabetes", P + "prep_unscaled_target_diabetes.py", "faulty",
      "data_preprocessing", ["t_tr = y_tr", "t_te = y_te"],
      "regression target left in raw units (25-346) with SGD+momentum: the loss diverges to NaN",
      "regression", "module-script",
      fix=[F("t_tr = y_tr", "t_tr = (y_tr - y_tr.mean()) / y_tr.std()"),
           F("t_te = y_te", "t_te = (y_te - y_tr.mean()) / y_tr.std()")]),
    E("prep_minmax_precedence_cancer", P + "prep_minmax_precedence_cancer.py", "faulty",
      "data_preprocessing",
      ["return X - lo / (hi - lo)", "X_train, X_test = min_max(X_train, lo, hi), min_max(X_test, lo, hi)"],
      "min-max scaling with an operator-precedence slip (X - lo / (hi - lo)): features stay unscaled",
      "mlp", "module-script-sequential",
      fix=F("return X - lo / (hi - lo)", "return (X - lo) / (hi - lo)")),
    # ---------------------------------------------------------------- epochs
    E("epochs_one_mlp_digits", P + "epochs_one_mlp_digits.py", "faulty", "epochs",
      ['"--epochs", type=int, default=1', "for epoch in range(args.epochs):"],
      "argparse default of one epoch for plain SGD: the MLP is far from converged", "mlp",
      "main-argparse", fix=F("default=1, help", "default=20, help")),
    E("epochs_two_lstm_sequence", P + "epochs_two_lstm_sequence.py", "faulty", "epochs",
      ["EPOCHS = 2", "for epoch in range(EPOCHS):"],
      "two epochs of RMSprop(3e-4) for an LSTM that needs ~15", "lstm", "module-script",
      fix=F("EPOCHS = 2", "EPOCHS = 15")),
    E("epochs_one_conv_autoencoder", P + "epochs_one_conv_autoencoder.py", "faulty", "epochs",
      ['"--n-epochs", type=int, default=1', "for epoch in range(args.n_epochs):"],
      "convolutional autoencoder trained for a single epoch", "autoencoder", "main-argparse",
      fix=F('"--n-epochs", type=int, default=1', '"--n-epochs", type=int, default=30')),
    E("epochs_default_arg_regression", P + "epochs_default_arg_regression.py", "faulty", "epochs",
      ["def train(model, x, y, num_epochs=3, lr=2e-3, batch_size=64):", "for epoch in range(num_epochs):"],
      "train() helper defaults to 3 epochs and the caller relies on the default", "regression",
      "functions-main-guard", fix=F("num_epochs=3,", "num_epochs=40,")),
    # ---------------------------------------------------------------- batch_size
    E("bs_one_high_lr_moons", P + "bs_one_high_lr_moons.py", "faulty", "batch_size",
      ["BATCH_SIZE = 1", "for i in range(0, len(X_train), BATCH_SIZE):"],
      "batch size 1 with SGD lr=0.2, momentum 0.9: noisy steps, accuracy near chance", "mlp",
      "module-script-sequential", fix=F("BATCH_SIZE = 1", "BATCH_SIZE = 32")),
    E("bs_full_batch_digits", P + "bs_full_batch_digits.py", "faulty", "batch_size",
      ['"--batch-size", type=int, default=2048', "DataLoader(train_ds, batch_size=batch_size"],
      "batch larger than the data set: 15 Adam steps in total, the model underfits", "mlp",
      "main-argparse-dataloader", fix=F("default=2048)", "default=32)")),
    E("bs_two_batchnorm_cnn", P + "bs_two_batchnorm_cnn.py", "faulty", "batch_size",
      ["batch_size = 2", "for i in range(0, len(X_train), batch_size):"],
      "batch size 2 with BatchNorm: batch statistics useless, eval-mode accuracy at chance", "cnn",
      "module-script-sequential", fix=F("batch_size = 2", "batch_size = 32")),
    E("bs_full_batch_gru", P + "bs_full_batch_gru.py", "faulty", "batch_size",
      ['config = {"hidden": 32, "lr": 3e-3, "epochs": 12, "batch_size": len(train_x)}',
       'batch_size=config["batch_size"], shuffle=True'],
      "config batch size = whole training set: 12 Adam steps for a GRU that needs hundreds", "gru",
      "module-script-dataloader", fix=F('"batch_size": len(train_x)}', '"batch_size": 64}')),
    # ---------------------------------------------------------------- regularization
    E("reg_dropout_09_digits", P + "reg_dropout_09_digits.py", "faulty", "regularization",
      ["DROPOUT = 0.9", "nn.Linear(64, 32), nn.ReLU(), nn.Dropout(DROPOUT),"],
      "dropout p=0.9 after each narrow hidden layer: the network cannot fit", "mlp",
      "module-script-sequential", fix=F("DROPOUT = 0.9", "DROPOUT = 0.2")),
    E("reg_weight_decay_cnn", P + "reg_weight_decay_cnn.py", "faulty", "regularization",
      ['"--weight-decay", type=float, default=1.0', "weight_decay=args.weight_decay"],
      "Adam weight_decay=1.0: weights pinned near zero, accuracy at chance", "cnn",
      "main-argparse", fix=F('"--weight-decay", type=float, default=1.0',
                            '"--weight-decay", type=float, default=1e-4')),
    E("reg_l2_penalty_regression", P + "reg_l2_penalty_regression.py", "faulty", "regularization",
      ["L2_LAMBDA = 1.0", "loss = data_loss + L2_LAMBDA * penalty"],
      "hand-written L2 penalty with lambda=1: the regressor collapses to the mean (R2~0)",
      "regression", "module-script", fix=F("L2_LAMBDA = 1.0", "L2_LAMBDA = 1e-4")),
    E("reg_adamw_decay_gru", P + "reg_adamw_decay_gru.py", "faulty", "regularization",
      ['"--wd", type=float, default=30.0', "weight_decay=args.wd"],
      "AdamW weight_decay=30 (lr*wd = 0.09 shrink per step): the GRU cannot hold its weights",
      "gru", "main-argparse", fix=F("default=30.0)", "default=1e-2)")),
    # ---------------------------------------------------------------- training_loop
    E("loop_missing_zero_grad_digits", P + "loop_missing_zero_grad_digits.py", "faulty",
      "training_loop",
      ["loss = criterion(model(X_train[idx]), y_train[idx])", "loss.backward()", "optimizer.step()"],
      "optimizer.zero_grad() missing: gradients accumulate across steps (with momentum 0.9)",
      "mlp", "module-script",
      fix=F("loss = criterion(", "optimizer.zero_grad()\n        loss = criterion(")),
    E("loop_missing_step_gru", P + "loop_missing_step_gru.py", "faulty", "training_loop",
      ["running_loss += loss.item() * len(idx)", "loss.backward()"],
      "optimizer.step() missing after backward: the GRU keeps its random weights", "gru",
      "main-argparse",
      fix=F("running_loss +=", "optimizer.step()\n            running_loss +=")),
    E("loop_step_before_backward_cnn", P + "loop_step_before_backward_cnn/train.py", "faulty",
      "training_loop", ["optimizer.step()", "loss.backward()"],
      "optimizer.step() called before loss.backward() (right after zero_grad): no update ever uses a gradient",
      "cnn", "program-dir",
      fix=[F("optimizer.step()", "loss.backward()"), F("loss.backward()", "optimizer.step()")]),
    E("loop_missing_eval_dropout_digits", P + "loop_missing_eval_dropout_digits.py", "faulty",
      "training_loop",
      ["with torch.no_grad():", "val_acc = evaluate(model, X_va, y_va)"],
      "validation without model.eval(): dropout p=0.5 stays active, validation accuracy far below the eval-mode value",
      "mlp", "module-script",
      fix=F("with torch.no_grad():", "model.eval()\n    with torch.no_grad():")),
    E("loop_zero_grad_after_backward_ae", P + "loop_zero_grad_after_backward_ae.py", "faulty",
      "training_loop", ["optimizer.zero_grad()", "loss.backward()", "optimizer.step()"],
      "zero_grad() between backward() and step(): every step applies a zero gradient", "autoencoder",
      "module-script",
      fix=[F("recon = decoder(encoder(batch))", "optimizer.zero_grad()\n        recon = decoder(encoder(batch))"),
           F("optimizer.zero_grad()", "pass")]),
    E("loop_no_grad_train_step_resnet", P + "loop_no_grad_train_step_resnet.py", "crashed",
      "training_loop", ["with torch.no_grad():", "loss.backward()"],
      "training forward pass wrapped in torch.no_grad(): backward() raises 'does not require grad'",
      "resnet", "module-script", fix=F("with torch.no_grad():", "with torch.enable_grad():")),
    # ---------------------------------------------------------------- architecture
    E("arch_two_outputs_iris", P + "arch_two_outputs_iris.py", "crashed", "architecture",
      ["N_CLASSES = 2", "self.fc2 = nn.Linear(HIDDEN, N_CLASSES)"],
      "output layer of width 2 for 3 classes: CrossEntropyLoss raises 'Target 2 is out of bounds'",
      "mlp", "module-script", fix=F("N_CLASSES = 2", "N_CLASSES = 3")),
    E("arch_flatten_mismatch_cnn", P + "arch_flatten_mismatch_cnn.py", "crashed", "architecture",
      ["self.fc1 = nn.Linear(2 * width * 4 * 4, 64)", "x = F.relu(self.fc1(x))"],
      "first Linear sized for 4x4 feature maps after two poolings of 8x8 (2x2): shape mismatch crash",
      "cnn", "main-argparse", fix=F("2 * width * 4 * 4", "2 * width * 2 * 2")),
    E("arch_lstm_first_step", P + "arch_lstm_first_step.py", "faulty", "architecture",
      ["return self.fc(out[:, 0, :])"],
      "classifier reads the LSTM output at the first time step; the label depends on the last steps",
      "lstm", "module-script", fix=F("out[:, 0, :]", "out[:, -1, :]")),
    E("arch_bottleneck_one_ae", P + "arch_bottleneck_one_ae.py", "faulty", "architecture",
      ["CODE_DIM = 1", "self.enc2 = nn.Linear(32, CODE_DIM)"],
      "autoencoder bottleneck of width 1 for 64-pixel digits", "autoencoder", "module-script",
      fix=F("CODE_DIM = 1", "CODE_DIM = 12")),
    E("act_missing_nonlinearity_circles", P + "act_missing_nonlinearity_circles.py", "faulty", "activation",
      ["nn.Linear(2, 32),", "nn.Linear(32, 32),", "logits = model(X_train[idx]).squeeze(1)"],
      "no activation between the Linear layers: the model is linear on concentric circles",
      "mlp", "module-script-sequential",
      fix=[F("nn.Linear(2, 32),", "nn.Linear(2, 32), nn.ReLU(),"),
           F("nn.Linear(32, 32),", "nn.Linear(32, 32), nn.ReLU(),")]),
    # ---------------------------------------------------------------- data
    E("data_shuffle_mismatch_digits", P + "data_shuffle_mismatch_digits.py", "faulty", "data",
      ["X = X[rng.permutation(len(X))]", "y = y[rng.permutation(len(y))]"],
      "features and labels shuffled with two different permutations: labels are random",
      "mlp", "module-script-sequential",
      fix=[F("X = X[rng.permutation(len(X))]", "order = rng.permutation(len(X)); X = X[order]"),
           F("y = y[rng.permutation(len(y))]", "y = y[order]")]),
    E("data_split_seed_mismatch_cancer", P + "data_split_seed_mismatch_cancer.py", "faulty", "data",
      ["y_train, y_test = train_test_split(data.target, test_size=test_size, random_state=42)",
       "X_train, X_test = train_test_split(data.data, test_size=test_size, random_state=0)"],
      "features and labels split by separate train_test_split calls with different seeds",
      "mlp", "main-argparse-sequential", fix=F("random_state=42)", "random_state=0)")),
    E("data_labels_minus_one_wine", P + "data_labels_minus_one_wine.py", "crashed", "data",
      ["y = wine.target - 1"],
      "labels shifted by -1 on the belief they are 1-based: class -1, CrossEntropyLoss crashes",
      "mlp", "module-script", fix=F("y = wine.target - 1", "y = wine.target")),
    E("data_label_noise_flag_digits", P + "data_label_noise_flag_digits.py", "faulty", "data",
      ['"--label-noise", type=float, default=0.8', "y_tr = corrupt_labels(y_tr, args.label_noise, 10, args.seed)"],
      "label-noise injection left on by default (80% of training labels flipped)", "mlp",
      "main-argparse-sequential", fix=F("default=0.8)", "default=0.0)")),
]


def find_line(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if needle in line]
    if len(hits) != 1:
        raise SystemExit(f"{path}: anchor {needle!r} matches {len(hits)} lines (need exactly 1)")
    return hits[0]


def build():
    old = {}
    if MANIFEST.exists():
        old = {e["id"]: e for e in json.loads(MANIFEST.read_text())}
    out, seen = [], set()
    for s in SPECS:
        if s["id"] in seen:
            raise SystemExit(f"duplicate id {s['id']}")
        seen.add(s["id"])
        if s["fault_type"] is not None and s["fault_type"] not in FAULT_TYPES:
            raise SystemExit(f"{s['id']}: unknown fault type {s['fault_type']}")
        fault_file = HERE / (s["fault_path"] or s["path"])
        lines = [find_line(fault_file, a) for a in s["anchors"]]
        text = fault_file.read_text().splitlines()
        entry = {
            "id": s["id"],
            "path": s["path"],
            "argv": s["argv"],
            "expected_verdict": s["verdict"],
            "fault_type": s["fault_type"],
            "lines": lines,
            "line_text": [text[n - 1].strip() for n in lines],
            "description": s["description"],
            "arch": s["arch"],
            "style": s["style"],
        }
        if s["fault_path"]:
            entry["fault_path"] = s["fault_path"]
        if s["min_score"] is not None:
            entry["min_score"] = s["min_score"]
        if s["fix"]:
            fixes = s["fix"] if isinstance(s["fix"], list) else [s["fix"]]
            resolved = []
            for f in fixes:
                ffile = HERE / (f.get("file") or s["fault_path"] or s["path"])
                n = find_line(ffile, f.get("anchor", f["from"]))
                d = {"line": n, "from": f["from"], "to": f["to"]}
                if f.get("file"):
                    d["file"] = f["file"]
                resolved.append(d)
            entry["fix"] = resolved[0] if len(resolved) == 1 else resolved
        entry["measured"] = old.get(s["id"], {}).get(
            "measured", {"faulty_score": None, "fixed_score": None, "seconds": None})
        out.append(entry)
    MANIFEST.write_text(json.dumps(out, indent=1) + "\n")
    n_faulty = sum(e["expected_verdict"] != "healthy" for e in out)
    print(f"wrote {MANIFEST.relative_to(HERE.parent.parent)}: {len(out)} entries, {n_faulty} faulty/crashing")


DOC = HERE.parent.parent / "docs" / "accuracy-set.md"
START, END = "<!-- table:start -->", "<!-- table:end -->"


def _fmt(x):
    if x is None:
        return "crash"
    if isinstance(x, str):
        return x
    return f"{x:.3f}"


def render_table(entries) -> str:
    """Markdown table of the set, measured columns straight from manifest.json."""
    rows = ["| id | verdict | type | arch | style | fault lines | what | as shipped | fixed | CPU s |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        m = e.get("measured", {})
        where = e.get("fault_path", e["path"]).replace("programs/", "")
        lines = ", ".join(str(n) for n in e["lines"]) or "-"
        fixed = "-" if e["expected_verdict"] == "healthy" else _fmt(m.get("fixed_score"))
        secs = m.get("seconds")
        rows.append(
            f"| {e['id']} | {e['expected_verdict']} | {e['fault_type'] or '-'} | {e['arch']} | "
            f"{e['style']} | {where}: {lines} | {e['description']} | "
            f"{_fmt(m.get('faulty_score')) if m.get('faulty_score') is not None or e['expected_verdict'] == 'crashed' else 'n/m'} | "
            f"{fixed} | {'-' if secs is None else f'{secs:.1f}'} |")
    return "\n".join(rows)


def render_summary(entries) -> str:
    """Counts and measured effect sizes, computed from manifest.json."""
    from collections import Counter
    from statistics import median

    verdicts = Counter(e["expected_verdict"] for e in entries)
    types = Counter(e["fault_type"] for e in entries if e["fault_type"])
    archs = Counter(e["arch"] for e in entries)
    effects, nan = [], 0
    for e in entries:
        m = e.get("measured", {})
        if e["expected_verdict"] != "faulty" or m.get("fixed_score") is None:
            continue
        if isinstance(m.get("faulty_score"), str):
            nan += 1
        elif m.get("faulty_score") is not None:
            effects.append(m["fixed_score"] - m["faulty_score"])
    secs = [e["measured"][k] for e in entries for k in ("seconds", "fixed_seconds")
            if e.get("measured", {}).get(k) is not None]
    out = [
        f"* {len(entries)} programs: {verdicts['faulty']} faulty, {verdicts['crashed']} crashing, "
        f"{verdicts['healthy']} clean.",
        "* per fault type: " + ", ".join(f"{t} {types[t]}" for t in FAULT_TYPES) + ".",
        "* per architecture: " + ", ".join(f"{a} {n}" for a, n in archs.most_common()) + ".",
    ]
    if effects:
        out.append(f"* measured effect (fixed minus faulty score, {len(effects)} faulty programs with a "
                   f"finite score): min {min(effects):.3f}, median {median(effects):.3f}, "
                   f"max {max(effects):.3f}; {nan} more print NaN.")
    if secs:
        out.append(f"* CPU seconds per run (shipped and fixed variants, import included): median "
                   f"{median(secs):.1f}, max {max(secs):.1f}.")
    return "\n".join(out)


def _replace_block(text, start, end, body):
    if start not in text or end not in text:
        raise SystemExit(f"{DOC}: markers {start} / {end} missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + body + "\n" + end + tail


def refresh_docs():
    entries = json.loads(MANIFEST.read_text())
    text = DOC.read_text()
    text = _replace_block(text, START, END, render_table(entries))
    text = _replace_block(text, "<!-- summary:start -->", "<!-- summary:end -->", render_summary(entries))
    DOC.write_text(text)
    print(f"refreshed summary and table in {DOC.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    build()
    if "--docs" in sys.argv[1:]:
        refresh_docs()
    sys.exit(0)
