"""One taxonomy: the vocabularies every stage of faultlens shares.

Standard library only (no torch, numpy, libcst or networkx), so that the analyzer, the lint
rules, the instrumenter's runtime and probes, the models (features, symptoms, diagnosis), the
corpus operators and the localizer can all import it without pulling in each other.

Two groups:

* **faults and outcomes** -- the fault types, the verdicts, the crash kinds and categories and
  the step minimum under which no verdict is given;
* **the PyTorch catalogue** -- losses (functional forms and loss classes grouped by what they
  expect), activations, layers and optimizers, by the class / function names that
  ``torch.nn``, ``torch.nn.functional`` and ``torch.optim`` use.

Where two stages used different members for what looks like one set, both are kept: the set
and a named subset (or superset) for the stage that uses fewer (or more), each saying why, so
that moving them here changed no behaviour. Sets are ``frozenset`` and maps are plain dicts
that nobody may modify; ordered vocabularies (where the order makes feature names, variants
or messages) are tuples.
"""
from __future__ import annotations

# ================================================================= faults and outcomes

#: The twelve fault types a diagnosis ranks and a mutation operator or lint rule injects or
#: reports. From DeepCrime's mutation-operator families (Humbatova et al., "DeepCrime: Mutation
#: Testing of Deep Learning Systems Based on Real Faults", ISSTA 2021) and the taxonomy of real
#: DL faults they derive from (Humbatova et al., "Taxonomy of Real Faults in Deep Learning
#: Systems", ICSE 2020), plus ``training_loop`` for PyTorch loop faults Keras cannot express
#: (missing ``zero_grad``/``step``/``eval()``). The order is the classifier's class order and
#: the order of per-type tables.
FAULT_TYPES: tuple[str, ...] = (
    "learning_rate", "optimizer", "loss_function", "activation", "weight_initialization",
    "data_preprocessing", "epochs", "batch_size", "regularization", "training_loop",
    "architecture", "data",
)

#: A diagnosis's verdict (docs/diagnosis.md): ``crashed`` when the program raised,
#: ``inconclusive`` when fewer than :data:`MIN_STEPS` steps were recorded and nothing fired,
#: ``faulty`` when P(faulty) >= 0.5, ``healthy`` otherwise.
VERDICTS: tuple[str, ...] = ("healthy", "faulty", "crashed", "inconclusive")

#: A verdict -> the command's exit status (docs/report.md): 0 healthy, 1 faulty or crashed, 3
#: inconclusive (an unknown verdict counts as 1).
VERDICT_EXIT_CODES: dict[str, int] = {"healthy": 0, "faulty": 1, "crashed": 1, "inconclusive": 3}

#: Fewer recorded training steps (loss values) than this: the curve symptoms do not judge and
#: a run where nothing fired is ``inconclusive``. Used by the symptoms (models/symptoms/base.py)
#: and the diagnosis (models/diagnosis.py) alike.
MIN_STEPS: int = 10

#: The autograd error of a second backward through a graph whose saved tensors were freed: typed
#: ``training_loop`` by the diagnosis, located at the statement that carries the graph by the
#: localizer (faultlens/localizer/carried.py).
FREED_GRAPH_MESSAGE = "backward through the graph a second time"

#: BCELoss's range check on its input ("all elements of input should be between 0 and 1"):
#: typed loss_function/activation by the diagnosis, located at the model's last layer (the
#: missing sigmoid) by the localizer's activation handler.
BCE_RANGE_MESSAGE = "between 0 and 1"

#: How the instrumenter classifies an exception (instrumenter/runner.py), recorded as the
#: trace's crash ``kind``. ``index_range``: IndexError / "out of bounds" (e.g. a label >= the
#: number of classes). The order is the order of the ``event.crash_kind_*`` features.
CRASH_KINDS: tuple[str, ...] = ("shape_mismatch", "dtype", "device", "nan_check", "out_of_memory",
                                "index_range", "other")

#: Crashes that are not training faults get the verdict ``crashed`` with one of these kinds and no
#: fault type: the seed taxonomy of DL faults (Humbatova et al., ICSE 2020) has, beside model,
#: inputs and training, the categories API and GPU usage; an environment problem (a missing
#: module or file, the network) or the program's own ``sys.exit`` is no fault of the training.
CRASH_CATEGORIES: dict[str, str] = {
    "exit": "the program ended itself with a non-zero exit status",
    "environment": "the environment is missing something the program needs (a module, a file, the network)",
    "api": "a library API was used in a way it refuses (API misuse), not a training fault",
}

# ================================================================= PyTorch catalogue: losses

#: ``torch.nn.functional`` losses -> the ``torch.nn`` loss class they compute (PyTorch docs,
#: "torch.nn.functional: Loss functions"). The analyzer models a call of any of them as a
#: loss node of that class.
FUNCTIONAL_LOSSES: dict[str, str] = {
    "cross_entropy": "CrossEntropyLoss",
    "nll_loss": "NLLLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "mse_loss": "MSELoss",
    "l1_loss": "L1Loss",
    "smooth_l1_loss": "SmoothL1Loss",
    "huber_loss": "HuberLoss",
    "kl_div": "KLDivLoss",
    "poisson_nll_loss": "PoissonNLLLoss",
    "gaussian_nll_loss": "GaussianNLLLoss",
    "hinge_embedding_loss": "HingeEmbeddingLoss",
    "margin_ranking_loss": "MarginRankingLoss",
    "soft_margin_loss": "SoftMarginLoss",
    "multilabel_soft_margin_loss": "MultiLabelSoftMarginLoss",
    "multi_margin_loss": "MultiMarginLoss",
    "cosine_embedding_loss": "CosineEmbeddingLoss",
    "triplet_margin_loss": "TripletMarginLoss",
    "ctc_loss": "CTCLoss",
}

#: The subset of :data:`FUNCTIONAL_LOSSES` the lint rules recognise by a call's name (when the
#: graph gives the call no loss node): the classification, BCE, MSE/L1 and KL losses the rules
#: reason about. Kept this narrow: a wider map changes which call a rule's fix rewrites.
LINT_FUNCTIONAL_LOSSES: dict[str, str] = {k: FUNCTIONAL_LOSSES[k] for k in (
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss", "l1_loss", "kl_div")}

#: The subset of :data:`FUNCTIONAL_LOSSES` whose class name the instrumenter's runtime records
#: as a watched functional loss's ``loss_type`` (other functions keep their own name): the lint
#: subset plus SmoothL1 and Huber. Kept this narrow: a wider map changes recorded traces.
TRACED_FUNCTIONAL_LOSSES: dict[str, str] = {k: FUNCTIONAL_LOSSES[k] for k in (
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "smooth_l1_loss", "huber_loss", "kl_div")}

#: Loss classes that take raw scores (logits) and apply the softmax / sigmoid themselves
#: (PyTorch docs of each class): probabilities fed to them are a contract violation.
LOGIT_LOSSES: frozenset[str] = frozenset({"CrossEntropyLoss", "BCEWithLogitsLoss", "MultiLabelSoftMarginLoss"})

#: Losses that compare the output with a target of the same shape, in the target's units
#: (regression losses; class indices do not fit them).
REGRESSION_LOSSES: frozenset[str] = frozenset({"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"})

#: Regression losses measured in the targets' units (absolute error, not squared).
ABS_LOSSES: frozenset[str] = frozenset({"L1Loss", "SmoothL1Loss", "HuberLoss"})

#: Losses that cannot be negative by definition (PyTorch docs: cross-entropy, likelihoods of
#: probabilities, squared / absolute errors, KL divergence); a negative value is a defect.
NONNEG_LOSSES: frozenset[str] = frozenset({"CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
                                           "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
                                           "MultiLabelSoftMarginLoss"})

#: Loss class -> the loss kind the features one-hot encode (``static.loss_<kind>``; any other
#: class is ``other``): SmoothL1 and Huber count as ``l1``.
LOSS_KINDS: dict[str, str] = {"CrossEntropyLoss": "ce", "NLLLoss": "nll", "MSELoss": "mse", "L1Loss": "l1",
                              "SmoothL1Loss": "l1", "HuberLoss": "l1", "BCELoss": "bce",
                              "BCEWithLogitsLoss": "bce_logits"}

# ================================================================= PyTorch catalogue: activations

#: Element-wise ``torch.nn`` activation modules -> their ``torch.nn.functional`` name (PyTorch
#: docs, "Non-linear Activations (weighted sum, nonlinearity)"). The corpus's activation
#: operators change / remove these.
POINTWISE_ACTIVATION_LAYERS: dict[str, str] = {
    "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "LeakyReLU": "leaky_relu", "GELU": "gelu",
    "ELU": "elu", "SELU": "selu", "Softplus": "softplus", "SiLU": "silu", "Mish": "mish",
    "ReLU6": "relu6", "Hardtanh": "hardtanh", "PReLU": "prelu",
}

#: Element-wise functional activations (``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``): the
#: functional names of :data:`POINTWISE_ACTIVATION_LAYERS` without ``prelu`` (its functional
#: form needs a weight tensor, so the corpus cannot swap it for another activation).
POINTWISE_ACTIVATION_OPS: frozenset[str] = frozenset({
    "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "elu", "selu", "softplus", "silu", "mish", "relu6",
    "hardtanh"})

#: Activation modules the features count (per layer, structure): the element-wise ones plus the
#: normalising Softmax and LogSoftmax.
ACTIVATION_LAYERS: frozenset[str] = frozenset(POINTWISE_ACTIVATION_LAYERS) | {"Softmax", "LogSoftmax"}

#: Functional activations the features count: the element-wise ones plus softmax / log_softmax.
ACTIVATION_OPS: frozenset[str] = POINTWISE_ACTIVATION_OPS | {"softmax", "log_softmax"}

#: The localizer's activation modules (statements it reports for an ``activation`` fault):
#: :data:`ACTIVATION_LAYERS` without Mish, as it always was (widening it changes which
#: statements are reported).
LOCALIZER_ACTIVATION_LAYERS: frozenset[str] = ACTIVATION_LAYERS - {"Mish"}

#: The localizer's functional activations: :data:`ACTIVATION_OPS` without softplus, mish and
#: hardtanh, as it always was.
LOCALIZER_ACTIVATION_OPS: frozenset[str] = ACTIVATION_OPS - {"softplus", "mish", "hardtanh"}

#: The ReLU family: rectifier-like activations (zero, or close to it, for negative inputs).
RELU_TYPES: frozenset[str] = frozenset({"ReLU", "ReLU6", "LeakyReLU", "RReLU", "PReLU", "ELU", "SELU", "CELU",
                                        "GELU", "SiLU", "Mish"})

#: Activations whose output is exactly 0 on the negative half (a dead unit outputs 0).
ZERO_TYPES: frozenset[str] = frozenset({"ReLU", "ReLU6"})

#: Bounded activations that saturate (gradients vanish at the ends): TheDeepChecker's saturation
#: check (TOSEM 2022) applies to these.
SATURATING_TYPES: frozenset[str] = frozenset({"Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "Softsign",
                                              "LogSigmoid", "Softmax", "Softmin"})

#: Modules the instrumenter's probes treat as ReLU-like (zero fraction of the output recorded).
PROBED_RELU_LAYERS: tuple[str, ...] = ("ReLU", "ReLU6", "Threshold")

#: Modules the probes measure saturation for -> the functional whose cut-off applies.
PROBED_SATURATING_LAYERS: dict[str, str] = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Hardtanh": "tanh"}

#: Functional ops the probes measure on the preceding layer's output -> saturation cut-off on
#: the input (None: zero fraction only). Sigmoid outside [0.01, 0.99] <=> |x| > logit(0.99) =
#: 4.595; tanh |y| > 0.99 <=> |x| > atanh(0.99) = 2.647 (TheDeepChecker's saturation check).
PROBED_ACTIVATION_OPS: dict[str, float | None] = {"relu": None, "relu6": None, "sigmoid": 4.59512,
                                                  "tanh": 2.64665}

#: Output activations (module or functional names) -> the kind of values they produce, as the
#: lint rules compare them with what a loss expects (probabilities, log-probabilities).
ACTIVATION_OUT: dict[str, str] = {
    "softmax": "softmax", "Softmax": "softmax", "Softmax2d": "softmax",
    "log_softmax": "log_softmax", "LogSoftmax": "log_softmax",
    "sigmoid": "sigmoid", "Sigmoid": "sigmoid", "hardsigmoid": "sigmoid", "Hardsigmoid": "sigmoid",
}

# ================================================================= PyTorch catalogue: layers

#: Layers with a weight matrix the corpus mutates and the features' structure counts (Linear,
#: convolutions, Bilinear).
WEIGHT_LAYERS: frozenset[str] = frozenset({"Linear", "Conv1d", "Conv2d", "Conv3d", "Bilinear"})

#: Affine layers as the lint rules see them (no nonlinearity inside): :data:`WEIGHT_LAYERS`
#: plus the transposed and lazy variants.
AFFINE_LAYERS: frozenset[str] = frozenset({
    "Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
})

#: Layers with trainable parameters the symptoms' graph facts know.
PARAM_LAYER_TYPES: frozenset[str] = frozenset({"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
                                               "ConvTranspose2d", "LazyLinear", "Bilinear", "Embedding",
                                               "LSTM", "GRU", "RNN"})

#: Dropout modules whose rate the corpus's dropout operators change.
DROPOUT_LAYERS: frozenset[str] = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout"})

#: Dropout and batch-norm modules: train/eval mode changes what they compute (the symptoms'
#: eval/train-mode checks need one).
DROPOUT_BN_TYPES: frozenset[str] = frozenset({
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d", "LazyBatchNorm2d",
})

#: Layers that are nonlinear without being activations (pooling by maximum, recurrent and
#: attention blocks): with :data:`ACTIVATION_LAYERS`, what separates two weight layers in the
#: features' "consecutive linear layers" count.
#: Functional ops that are nonlinear though no activation by name: ``x.clamp(min=0)`` is a ReLU
#: (the jcjohnson/PyTorch "learning PyTorch with examples" networks are written with it), the
#: others piecewise-linear maps or pooling; a chain of weight layers with one of them between is
#: no single linear map.
NONLINEAR_OPS: frozenset[str] = frozenset({
    "clamp", "clamp_", "clamp_min", "clip", "maximum", "minimum", "max_pool1d", "max_pool2d", "max_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d"})

NONLINEAR_LAYERS: frozenset[str] = ACTIVATION_LAYERS | {"MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d",
                                                        "AdaptiveMaxPool2d", "LSTM", "GRU", "RNN",
                                                        # the cells gate through sigmoid/tanh as the
                                                        # full layers do (torch.nn.LSTMCell docs)
                                                        "LSTMCell", "GRUCell", "RNNCell",
                                                        "TransformerEncoder", "TransformerEncoderLayer",
                                                        "TransformerDecoder", "TransformerDecoderLayer",
                                                        "Transformer", "MultiheadAttention"}

# ================================================================= PyTorch catalogue: optimizers

#: ``torch.optim`` optimizers -> their constructor's parameters in positional order (PyTorch
#: 2.x signatures); the analyzer binds a call's arguments with it.
OPTIMIZER_PARAMS: dict[str, list[str]] = {
    "SGD": ["params", "lr", "momentum", "dampening", "weight_decay", "nesterov"],
    "Adam": ["params", "lr", "betas", "eps", "weight_decay", "amsgrad"],
    "AdamW": ["params", "lr", "betas", "eps", "weight_decay", "amsgrad"],
    "Adamax": ["params", "lr", "betas", "eps", "weight_decay"],
    "NAdam": ["params", "lr", "betas", "eps", "weight_decay", "momentum_decay"],
    "RAdam": ["params", "lr", "betas", "eps", "weight_decay"],
    "RMSprop": ["params", "lr", "alpha", "eps", "weight_decay", "momentum", "centered"],
    "Adagrad": ["params", "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"],
    "Adadelta": ["params", "lr", "rho", "eps", "weight_decay"],
    "Rprop": ["params", "lr", "etas", "step_sizes"],
    "ASGD": ["params", "lr", "lambd", "alpha", "t0", "weight_decay"],
    "LBFGS": ["params", "lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn"],
    "SparseAdam": ["params", "lr", "betas", "eps"],
}

#: Every ``torch.optim`` optimizer class name (the keys of :data:`OPTIMIZER_PARAMS`); the
#: instrumenter's graph-less fallback recognises ``x = <one of these>(...)``.
TORCH_OPTIMIZERS: frozenset[str] = frozenset(OPTIMIZER_PARAMS)

#: Documented default learning rates (PyTorch 2.x signatures); the analyzer's ``lr`` when a
#: constructor call gives none.
OPTIMIZER_DEFAULT_LR: dict[str, float] = {
    "SGD": 1e-3, "Adam": 1e-3, "AdamW": 1e-3, "Adamax": 2e-3, "NAdam": 2e-3, "RAdam": 1e-3,
    "RMSprop": 1e-2, "Adagrad": 1e-2, "Adadelta": 1.0, "Rprop": 1e-2, "ASGD": 1e-2, "LBFGS": 1.0,
    "SparseAdam": 1e-3,
}

#: The reference learning rate the features divide by (``opt.lr_over_default_log10``): the
#: documented default, except SGD's customary 0.01 (older PyTorch releases documented no default
#: for SGD), for the optimizers the features know.
REFERENCE_LR: dict[str, float] = {"SGD": 1e-2, "Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2, "Adagrad": 1e-2,
                                  "Adadelta": 1.0, "LBFGS": 1.0}

#: Optimizers with per-parameter adaptive step sizes (Adam family, RMSprop, Adagrad,
#: Adadelta): UMLAUT's learning-rate bounds for them (lr > 0.01 is high) differ from SGD's.
ADAPTIVE_OPTIMIZERS: frozenset[str] = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop",
                                                 "Adagrad", "Adadelta", "SparseAdam"})

#: Optimizers whose ``step(closure)`` evaluates the closure many times per call, updating the
#: parameters between evaluations (LBFGS: up to ``max_eval`` per step; torch.optim.LBFGS docs).
#: The others call it once, to get the loss before their single update.
CLOSURE_REEVALUATING_OPTIMIZERS: frozenset[str] = frozenset({"LBFGS"})

#: Optimizers the features one-hot encode (``static.opt_<name>``), in feature order.
FEATURE_OPTIMIZERS: tuple[str, ...] = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS")

#: Optimizers the corpus's optimizer operators mutate (change the optimizer, set its weight
#: decay): six common ones, whose constructors all take ``params``, ``lr`` and ``weight_decay``.
MUTATION_OPTIMIZERS: frozenset[str] = frozenset({"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"})
