"""The program-graph builder: source files -> :class:`ProgramGraph` (see docs/graph.md).

Passes, all over libcst trees parsed once per file (``faultlens.analyzer.source``), driven by
:func:`faultlens.analyzer.build.build_graph`:

0. loading (``loading``): the entry file and the local files it imports, each indexed once
   (``index``: imports, classes, functions, definitions, call sites);
1. module classes and their layers (``layers``), then their forward flow (``forward``);
2. definitions: hyperparameters (``hyperparams``: argparse, constants, configs, dataclass
   fields) and objects (``objects``: models, losses, optimizers, schedulers, data loaders,
   transforms, framework trainers), then what framework code builds (``frameworks``: models
   given to trainers, ``configure_optimizers``);
3. statements (``statements``, ``statement_nodes``): loops, training calls, forward/loss calls,
   contexts, init calls, transforms, hand-written updates;
4. finishing (``finishing``): loop roles, feeds edges, backward targets, function nodes, params kinds.

Value and object resolution is lazy and memoised (``values``, ``bindings``): a name is resolved
through its latest definition before the use, a function parameter through the arguments at
the function's call sites (when they agree), ``self.x`` through the class's ``self.x``
definitions, and imported names through the defining local file. What does not resolve stays
unresolved. Those passes recurse into one another (a value may need an object, an object's
arguments are values, a layer's type is a value), so they are mixins of one :class:`Builder`
over the shared :class:`~faultlens.analyzer.state.BuildState` (with the framework questions
they ask, ``frameworks.Frameworks``); the later passes (forward flow, framework objects,
statements, finishing) are separate objects that use the builder. What a name refers to
(``qualify``, ``classify_callee``) is one of the dataclasses of ``faultlens.analyzer.refs``.
"""
from __future__ import annotations

from faultlens.analyzer.bindings import Bindings
from faultlens.analyzer.frameworks import Frameworks
from faultlens.analyzer.hyperparams import Hyperparams
from faultlens.analyzer.layers import Layers
from faultlens.analyzer.loading import Loading
from faultlens.analyzer.objects import Objects
from faultlens.analyzer.values import ValueEval


class Builder(Loading, ValueEval, Bindings, Hyperparams, Objects, Layers, Frameworks):
    """The graph under construction and the resolution passes over it."""
