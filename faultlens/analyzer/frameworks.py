"""What the graph knows of training frameworks: PyTorch Lightning and Hugging Face ``Trainer``.

The analyzer never imports either framework; it recognises them by qualified name:

* a subclass of ``LightningModule`` (``lightning``, ``lightning.pytorch`` or
  ``pytorch_lightning``) is a module class like any ``nn.Module`` subclass; its methods other
  than ``__init__``/``forward`` (``training_step``, ``validation_step``,
  ``configure_optimizers``, helpers they call) are walked as training code, where ``self``
  is the model that the program builds from that class (so ``self(x)`` is a forward call and
  ``self.parameters()`` the model's parameters); ``training_step`` is a ``train`` function;
  the optimizers and schedulers that ``configure_optimizers`` returns are optimizer and
  scheduler nodes; ``self.hparams.x`` / ``self.hparams["x"]`` (``save_hyperparameters``) is
  the constructor's parameter ``x`` (its default or the call's argument);
* ``Trainer(max_epochs=..., max_steps=..., gradient_clip_val=...)`` of either framework and
  Hugging Face's ``TrainingArguments(...)`` are ``trainer`` nodes; their literal arguments are
  hyperparameters (``max_epochs``/``num_train_epochs`` -> ``epochs``, ``learning_rate`` ->
  ``lr``, ``per_device_train_batch_size`` -> ``batch_size``);
* Hugging Face's ``Trainer`` builds its optimizer itself (``optim``, default AdamW, from
  ``learning_rate``/``weight_decay``): the graph has an optimizer node at the
  ``TrainingArguments(...)`` call whose ``lr`` argument is the ``learning_rate=`` value;
  the model passed as ``Trainer(model=...)`` is a model node even when its class is a
  library one (``BertForSequenceClassification(config)``).

Two parts, like the other passes: :class:`Frameworks`, mixed into ``Builder``, answers what
the resolution passes ask while they run (Lightning classes, ``self``/``self.hparams`` in them,
the ``trainer`` nodes); :class:`FrameworkObjects` is the pass that runs after the objects pass
(models given to trainers, ``configure_optimizers``, HF ``Trainer`` links).

The runtime side (callbacks injected into every ``Trainer`` the program builds) lives in
``faultlens/integrations``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from faultlens.analyzer import names as N
from faultlens.analyzer.cst_util import iter_returns
from faultlens.analyzer.graph import ProgramGraph
from faultlens.analyzer.index import CallSite, ClassInfo, Def, Scope
from faultlens.analyzer.names import dotted
from faultlens.analyzer.refs import LocalClass
from faultlens.analyzer.state import BuildState
from faultlens.analyzer.values import Val

if TYPE_CHECKING:
    from faultlens.analyzer.builder import Builder

LIGHTNING_ROOTS = ("lightning", "pytorch_lightning")
#: Lightning methods that are not training code of their own
_NOT_TRAINING = {"__init__", "forward"}
#: Lightning Trainer arguments that become hyperparameters (name given to the node)
_PL_TRAINER_HPS = {"max_epochs": "epochs", "max_steps": "max_steps", "min_epochs": "min_epochs",
                   "gradient_clip_val": "max_norm", "accumulate_grad_batches": "accumulate_grad_batches",
                   "limit_train_batches": "limit_train_batches"}
#: Hugging Face TrainingArguments that become hyperparameters
_HF_ARGS_HPS = {"learning_rate": "lr", "num_train_epochs": "epochs", "max_steps": "max_steps",
                "per_device_train_batch_size": "batch_size", "weight_decay": "weight_decay",
                "warmup_steps": "warmup_steps", "warmup_ratio": "warmup_ratio", "max_grad_norm": "max_norm",
                "gradient_accumulation_steps": "accumulate_grad_batches", "adam_beta1": "beta1",
                "adam_beta2": "beta2", "adam_epsilon": "eps"}
#: ``TrainingArguments(optim=...)`` -> the torch optimizer class it builds
HF_OPTIM = {"adamw_torch": "AdamW", "adamw_torch_fused": "AdamW", "adamw_hf": "AdamW", "adamw": "AdamW",
            "sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adafactor": "Adafactor"}
#: documented defaults (transformers.TrainingArguments)
HF_DEFAULT_LR = 5e-5
HF_DEFAULT_EPOCHS = 3.0
#: Lightning's ``Trainer``: max_epochs defaults to 1000 when neither max_epochs nor max_steps is set
PL_DEFAULT_EPOCHS = 1000


def _parts(qual: str) -> list[str]:
    return qual.split(".") if qual else []


def is_lightning_base(qual: str | None) -> bool:
    p = _parts(qual or "")
    return len(p) >= 2 and p[0] in LIGHTNING_ROOTS and p[-1] == "LightningModule"


def trainer_type(qual: str) -> str | None:
    """``<framework>:<class>`` (``lightning:Trainer``, ``hf:TrainingArguments``) when ``qual``
    is a framework trainer or HF arguments class, else None."""
    p = _parts(qual)
    if len(p) < 2:
        return None
    if p[0] in LIGHTNING_ROOTS and p[-1] == "Trainer":
        return "lightning:Trainer"
    if p[0] == "transformers":
        if p[-1] in ("Trainer", "Seq2SeqTrainer"):
            return f"hf:{p[-1]}"
        if p[-1] in ("TrainingArguments", "Seq2SeqTrainingArguments"):
            return f"hf:{p[-1]}"
    return None


class Frameworks(BuildState):
    """What the resolution passes ask of frameworks (a pass mixed into ``Builder``): which
    classes are Lightning classes, what ``self`` and ``self.hparams`` are in them, and the
    ``trainer`` nodes (with HF's optimizer node) of ``Trainer(...)`` calls."""

    # ---------------------------------------------------------------- Lightning classes
    def class_framework(self, ci: ClassInfo | None, depth: int = 0) -> str | None:
        """``"lightning"`` for a (local subclass of a) LightningModule subclass, else None."""
        if ci is None or depth > 20 or not self.is_module(ci):
            return None
        if is_lightning_base(ci.module_base):
            return "lightning"
        for base in ci.local_bases:
            if self.class_framework(base, depth + 1):
                return "lightning"
        return None

    def framework_training_method(self, ci: ClassInfo, name: str) -> bool:
        """Is method ``name`` of class ``ci`` framework training code (walked as such)?"""
        return name not in _NOT_TRAINING and self.class_framework(ci) is not None

    def lightning_self_model(self, ci: ClassInfo) -> str | None:
        """The model node built from Lightning class ``ci`` (or a subclass of it): what ``self`` is
        in its training methods. None when the program builds none, or several different ones."""
        if ci is None or ci.node_id is None or self.class_framework(ci) is None:
            return None
        g = self.g
        found = []
        for m in g.nodes("model"):
            cls = m.get("class")
            if cls == ci.node_id or (isinstance(cls, str) and cls in g and ci.node_id in _class_chain(g, cls)):
                found.append(m.id)
        if not found:
            return None
        with_var = [m for m in found if g.node(m).get("var")]
        return (with_var or found)[0]

    def hparams_member(self, ci: ClassInfo, name: str, depth: int) -> Val | None:
        """``self.hparams.<name>`` of a Lightning class: the ``__init__`` parameter of that name
        (``save_hyperparameters()`` stores the constructor's arguments), through the class's call
        sites or the parameter's default. None when the constructor has no such parameter."""
        for c in [ci] + list(ci.local_bases):
            init = c.methods.get("__init__")
            if init is not None and name in init.params:
                lit = self._init_call_literal(init, name)
                return lit if lit is not None else self.param_val(init, name, "", depth + 1)
        return None

    def _init_call_literal(self, init: Scope, name: str) -> Val | None:
        """The one call site's literal argument for ``name`` (``Model(lr=2.0)``) as a hyperparameter
        at that literal, so that a patch edits the argument the run used."""
        sites = self.call_sites(init)
        if len(sites) != 1:
            return None
        cs = sites[0]
        arg = self.bound_arg(init, name, cs)
        if not isinstance(arg, (cst.Integer, cst.Float)):
            return None
        hit = self.memo_val(arg)
        if hit is not None:
            return hit
        v = self.eval(arg, cs.scope, cs.pos)
        if not v.resolved:
            return None
        fi = cs.scope.file
        hp = self.g.add_node("hyperparameter", name, self.span(fi, arg), self.text(fi, arg), hp=N.canonical_hp(name),
                             value=v.value, resolved=True, source="literal", expr=self.text(fi, arg),
                             value_span=self.span(fi, arg).to_dict(), key=name, function=self.fn_name(cs.scope))
        return self.seed_val(arg, Val(v.value, True, "literal", hp, frozenset([hp])))

    def inherited_attr_defs(self, ci: ClassInfo, key: str, depth: int = 0) -> list[Def]:
        """``self.x`` definitions a Lightning class inherits from its local base classes."""
        if depth > 20 or self.class_framework(ci) is None:
            return []
        for base in ci.local_bases:
            ds = base.attr_defs.get(key) or self.inherited_attr_defs(base, key, depth + 1)
            if ds:
                return ds
        return []

    def inherited_init_sites(self, ci: ClassInfo, depth: int = 0) -> list[CallSite]:
        """Call sites of the local subclasses of Lightning class ``ci`` that inherit its
        ``__init__`` (``Child(lr=2.0)`` binds ``Base.__init__``'s ``lr``)."""
        if depth > 20:
            return []
        out = []
        for fi in self.files.values():
            for sub in fi.all_classes:
                if ci not in sub.local_bases or "__init__" in sub.methods:
                    continue
                for f2 in self.files.values():
                    for cs in self.calls_named(f2, sub.name):
                        q = self.qualify(f2, cs.key)
                        if isinstance(q, LocalClass) and q.cls is sub:
                            out.append(cs)
                out.extend(self.inherited_init_sites(sub, depth + 1))
        return out

    # ---------------------------------------------------------------- trainer nodes
    def make_trainer(self, call: cst.Call, scope: Scope, stmt: Any, var: str | None, tname: str) -> str:
        """A ``trainer`` node for ``Trainer(...)`` / ``TrainingArguments(...)`` (``tname`` is
        ``<framework>:<class>``)."""
        framework, cls = tname.split(":", 1)
        fi = scope.file
        pos = self.pos(fi, stmt)
        nid = self.add("trainer", var or cls, fi, stmt, scope, var=var, framework=framework, trainer_type=cls,
                       **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[nid] = stmt
        self.trainer_calls[nid] = call
        if framework == "lightning":
            hps = _PL_TRAINER_HPS
            a, r, s, h = self.consume_args(nid, call, scope, pos, [], set(hps),
                                           skip={"callbacks", "logger", "plugins", "strategy", "profiler"},
                                           literal_hp_names=hps)
            me = a.get("max_epochs") if r.get("max_epochs") else None
            ms = a.get("max_steps") if r.get("max_steps") else None
            default = "max_epochs" not in a and "max_steps" not in a
            self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h,
                            max_epochs=PL_DEFAULT_EPOCHS if default else me, max_steps=ms,
                            epochs_is_default=default)
            return nid
        if cls.endswith("TrainingArguments"):
            hps = _HF_ARGS_HPS
            a, r, s, h = self.consume_args(nid, call, scope, pos, ["output_dir"], set(hps), skip={"output_dir"},
                                           literal_hp_names=hps)
            ep = a.get("num_train_epochs") if r.get("num_train_epochs") else None
            self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h,
                            max_epochs=ep if "num_train_epochs" in a else HF_DEFAULT_EPOCHS,
                            max_steps=a.get("max_steps") if r.get("max_steps") else None,
                            epochs_is_default="num_train_epochs" not in a)
            self._hf_optimizer(nid, call, scope, stmt, a, r, s, h)
            return nid
        # the HF Trainer: its model and arguments
        a, r, s, h = self.consume_args(nid, call, scope, pos, ["model", "args"], set(),
                                       skip={"model", "args", "train_dataset", "eval_dataset", "data_collator",
                                             "callbacks", "tokenizer", "processing_class", "compute_metrics"})
        self.g.set_attr(nid, args=a, args_resolved=r, arg_spans=s, arg_hps=h)
        return nid

    def _hf_optimizer(self, tid: str, call: cst.Call, scope: Scope, stmt: Any, a: dict, r: dict, s: dict,
                      h: dict) -> None:
        """The optimizer HF's Trainer builds from these arguments, as an optimizer node at the
        ``TrainingArguments(...)`` call (``lr`` = ``learning_rate``)."""
        fi = scope.file
        optim = a.get("optim") if r.get("optim") else ("adamw_torch" if "optim" not in a else None)
        otype = HF_OPTIM.get(str(optim).lower().split(".")[-1], None) if optim is not None else None
        args, res, spans, hps = {}, {}, {}, {}
        for src, dst in (("learning_rate", "lr"), ("weight_decay", "weight_decay"), ("adam_beta1", "beta1"),
                         ("adam_beta2", "beta2"), ("adam_epsilon", "eps")):
            if src in a:
                args[dst], res[dst] = a[src], r.get(src, False)
                if src in s:
                    spans[dst] = s[src]
                if src in h:
                    hps[dst] = h[src]
        lr = args.get("lr") if res.get("lr") else None
        oid = self.add("optimizer", otype or "optimizer", fi, stmt, scope, var=None,
                       optimizer_type=otype or "unknown", params_source=None, params_model=None,
                       params_kind="all", framework="hf", built_by=tid,
                       lr=lr if "lr" in args else HF_DEFAULT_LR, lr_is_default="lr" not in args,
                       args=args, args_resolved=res, arg_spans=spans, arg_hps=hps,
                       **self.base_attrs(call, scope, stmt))
        self.stmt_lookup[oid] = stmt
        for arg, hp in hps.items():
            self.g.add_edge(hp, oid, "uses", arg=arg)
        self.g.set_attr(tid, optimizer=oid)


def _class_chain(g: ProgramGraph, cid: str, depth: int = 0) -> list[str]:
    out = [cid]
    if depth > 20 or cid not in g:
        return out
    for b in g.node(cid).get("local_bases") or []:
        out.extend(_class_chain(g, b, depth + 1))
    return out


# ------------------------------------------------------------------ the pass
class FrameworkObjects:
    """The framework pass (after the objects pass, before statements are walked): models handed
    straight to a trainer (``trainer.fit(LitMLP(), dl)``, ``Trainer(model=BertFor...(config))``),
    the optimizers ``configure_optimizers`` returns, the names Lightning classes log, and each
    HF ``Trainer``'s model and arguments (with the HF optimizer's model)."""

    def __init__(self, b: "Builder"):
        self.b = b
        self.g = b.g

    def run(self) -> None:
        b = self.b
        created = False
        for fi in list(b.files.values()):
            for cs in list(fi.calls):  # trainers built without a variable: Trainer(args=TrainingArguments(...))
                cat = b.classify_callee(fi, cs.call.func) if cs.key else None
                if cat and cat.kind == "trainer":
                    b.obj_of_expr(cs.call, cs.scope, cs.stmt, cs.pos, None)
        for fi in list(b.files.values()):
            for cs in list(fi.calls):
                short = cs.key.rsplit(".", 1)[-1]
                if short == "fit":
                    arg = _arg(cs.call, "model", 0)
                    if isinstance(arg, cst.Call):
                        created |= b.obj_of_expr(arg, cs.scope, cs.stmt, cs.pos, None) is not None
                cat = b.classify_callee(fi, cs.call.func) if cs.key else None
                if cat and cat.kind == "trainer" and cat.name.startswith("hf:") and not cat.name.endswith("Arguments"):
                    created |= self._hf_model(cs)
        if created:
            b.forget_name_objs()
        for fi in list(b.files.values()):
            for ci in fi.all_classes:
                if b.class_framework(ci) is None:
                    continue
                if ci.node_id and ci.node_id in self.g:
                    self.g.set_attr(ci.node_id, framework="lightning", logged=_logged(ci))
                m = ci.methods.get("configure_optimizers")
                if m is None:
                    continue
                for ret in iter_returns(m.node):
                    if ret.value is None:
                        continue
                    for c in _calls_in(ret.value):
                        cat = b.classify_callee(m.file, c.func)
                        if cat and cat.kind in ("optimizer", "scheduler"):
                            b.obj_of_expr(c, m, ret, b.pos(m.file, ret), None)
        self._link_hf()

    def _hf_model(self, cs: CallSite) -> bool:
        """``Trainer(model=m)``: ``m`` as a model node, also when its class is a library one."""
        b = self.b
        arg = _arg(cs.call, "model", 0)
        if arg is None:
            return False
        d = None
        if isinstance(arg, cst.Call):
            expr, scope, stmt, var, pos = arg, cs.scope, cs.stmt, None, cs.pos
        else:
            k = dotted(arg)
            if not k or b.resolve_obj(k, cs.scope, cs.pos) is not None:
                return False
            d = cs.scope.latest(k, cs.pos)
            if d is None or not isinstance(d.value, cst.Call):
                return False
            expr, scope, stmt, var, pos = d.value, d.scope, d.stmt, d.key, d.pos
        nid = b.obj_of_expr(expr, scope, stmt, pos, var)
        if nid is None:
            f = expr.func
            # BertForSequenceClassification(config) / AutoModelFor...from_config(config): a library model
            qual = b.ext(scope.file, dotted(f))
            if not qual and isinstance(f, cst.Attribute):
                qual = b.ext(scope.file, dotted(f.value))
            if not qual:
                return False
            nid = b.make_model(expr, scope, stmt, var, qual.split(".")[-1], None)
            b.seed_expr_obj(expr, nid)
        if d is not None:
            b.seed_def_obj(d, nid)
        return True

    def _link_hf(self) -> None:
        b, g = self.b, self.g
        for t in g.nodes("trainer", framework="hf"):
            if t.get("trainer_type", "").endswith("Arguments"):
                continue
            scope = b.scope_of_node.get(t.id)
            model = args_node = None
            stmt = b.stmt_lookup.get(t.id)
            call = b.trainer_calls.get(t.id)
            if call is None or scope is None or stmt is None:
                continue
            pos = b.pos(scope.file, stmt)
            m = _arg(call, "model", 0)
            if m is not None:
                model = b.obj_of_expr(m, scope, stmt, pos, None) if isinstance(m, cst.Call) else \
                    b.resolve_obj(dotted(m), scope, pos)
            a = _arg(call, "args", 1)
            if a is not None:
                args_node = b.obj_of_expr(a, scope, stmt, pos, None) if isinstance(a, cst.Call) else \
                    b.resolve_obj(dotted(a), scope, pos)
            g.set_attr(t.id, model=model, training_args=args_node)
            if args_node and args_node in g:
                oid = g.node(args_node).get("optimizer")
                if oid and model and oid in g and not g.node(oid).get("params_model"):
                    g.set_attr(oid, params_model=model)
                    g.add_edge(oid, model, "params_of")
                g.set_attr(args_node, trainer=t.id)


def _arg(call: cst.Call, name: str, index: int):
    for a in call.args:
        if a.keyword and a.keyword.value == name:
            return a.value
    pos = [a for a in call.args if not a.keyword and not a.star]
    return pos[index].value if index < len(pos) else None


def _calls_in(expr: cst.CSTNode) -> list[cst.Call]:
    out = []

    class V(cst.CSTVisitor):
        def visit_Call(self, n):
            out.append(n)

    expr.visit(V())
    return out


def _logged(ci: ClassInfo) -> dict[str, list[str]]:
    """The names each method logs with ``self.log("name", ...)`` / ``self.log_dict({...})``."""
    out: dict[str, list[str]] = {}
    for name, m in ci.methods.items():
        names = []
        for c in _calls_in(m.node):
            k = dotted(c.func)
            if k == "self.log" and c.args and isinstance(c.args[0].value, cst.SimpleString):
                v = c.args[0].value.evaluated_value
                if isinstance(v, str):
                    names.append(v)
            elif k == "self.log_dict" and c.args and isinstance(c.args[0].value, cst.Dict):
                for el in c.args[0].value.elements:
                    if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                        v = el.key.evaluated_value
                        if isinstance(v, str):
                            names.append(v)
        if names:
            out[name] = names
    return out
