"""training_loop: where a missing call belongs, or the misplaced call; inserting or moving it.

Located, per loop symptom: ``accumulating_gradients`` -> the insertion points of the missing
``zero_grad`` (before the iteration's training forward, else the loop's first statement; then
before ``backward``; after the last hand-written update when there is no optimizer object);
``missing_update`` -> the ``zero_grad`` between backward and step (reason ``cleared``) or the
insertion point of ``step`` after the backward that no step follows (a GAN's generator loss), and
its clipping; ``eval_mode_missing`` -> before the
no-grad evaluation block; ``train_mode_missing`` -> the epoch loop's first statement.
Patched: the missing ``optimizer.zero_grad()`` / ``optimizer.step()`` / ``model.eval()`` (plus
``model.train()`` at the top of the epoch loop when the program has none) / ``model.train()``
inserted; a ``zero_grad`` between backward and step removed (when the loop already clears
before backward) or moved to the top of the loop.
"""
from __future__ import annotations

import ast
from typing import Any

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import InsertStmt, RemoveStmt, ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import graph_node, var_name
from faultlens.localizer.patches import CommandLine
from faultlens.localizer.carried import carried_statements
from faultlens.taxonomy import FREED_GRAPH_MESSAGE

#: the note of an insertion point that names the last statement of a block: the missing call
#: belongs after it (nothing follows it in the block, so there is no statement to insert before)
AFTER = "after"


def _calls(g: Any, method: str) -> list[Any]:
    return g.nodes("call", method=method)


def _manual_updates(g: Any, loop: Any) -> list[Any]:
    """The hand-written update statements (``w -= lr * w.grad``) of ``loop``, in source order."""
    return sorted((n for n in _calls(g, "step") if n.get("manual") and n.get("loop") == loop.id),
                  key=lambda n: (n.span.end_line, n.span.line))


def _unstepped_backward(g: Any) -> Any:
    """The backward call that no optimizer step follows: the one where a missing ``step()``
    belongs. Several losses trained in one loop (a GAN's discriminator and generator) each have
    their backward, and one model's gradients may be accumulated over several backwards before
    its single step (a discriminator's real and fake halves). So: the last backward that comes
    after every ``step`` call of its loop and file (the iteration ends with gradients no step
    applies); else the first backward followed by no step before the next backward; else the
    first backward (every backward is followed by a step, or the program has one backward)."""
    calls = _calls(g, "backward")
    if len(calls) < 2:
        return calls[0] if calls else None
    back = sorted(calls, key=lambda n: (n.span.path, n.span.line))
    steps = _calls(g, "step")

    def same_loop(a, b) -> bool:
        return a.span.path == b.span.path and a.get("loop") == b.get("loop")

    trailing = [b for b in back if not any(same_loop(st, b) and st.span.line > b.span.line for st in steps)
                and any(same_loop(st, b) for st in steps)]
    if trailing:
        return trailing[-1]
    for i, b in enumerate(back):
        nxt = next((o for o in back[i + 1:] if same_loop(o, b)), None)
        stop = nxt.span.line if nxt is not None else float("inf")
        if not any(same_loop(st, b) and b.span.line < st.span.line < stop for st in steps):
            return b
    return calls[0]


class TrainingLoop(FaultHandler):
    fault_type = "training_loop"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            data = torch.randn(200, 8, 4)
            rnn = nn.LSTM(4, 16)
            head = nn.Linear(16, 4)
            opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
            crit = nn.MSELoss()
            hidden = (torch.zeros(1, 8, 16), torch.zeros(1, 8, 16))
            for i in range(0, 190, 10):
                opt.zero_grad()
                out, hidden = rnn(data[i:i + 10], hidden)
                loss = crit(head(out), data[i + 1:i + 11])
                loss.backward()
                opt.step()
            """,
            lines=(("crash", 13), ("carries", 11)),
            crash={"kind": "other", "type": "RuntimeError", "path": "example.py", "line": 13, "column": 5,
                   "message": "Trying to backward through the graph a second time (or directly access "
                              "saved tensors after they have already been freed)."},
            diff="""
            faultlens: training_loop: detach hidden before line 11: it carries the previous iteration's graph into this one
            --- ./example.py
            +++ ./example.py
            @@ -8,6 +8,8 @@
             hidden = (torch.zeros(1, 8, 16), torch.zeros(1, 8, 16))
             for i in range(0, 190, 10):
                 opt.zero_grad()
            +    # faultlens: detach hidden before line 11: it carries the previous iteration's graph into this one
            +    hidden = tuple(t.detach() for t in hidden) if isinstance(hidden, tuple) else hidden.detach()
                 out, hidden = rnn(data[i:i + 10], hidden)
                 loss = crit(head(out), data[i + 1:i + 11])
                 loss.backward()
            """,
            note="a recurrent state carried across iterations: the next backward reaches a freed graph"),
        Example("""
            import torch
            import torch.nn as nn
            netG = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
            netD = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
            optD = torch.optim.Adam(netD.parameters(), lr=1e-3)
            optG = torch.optim.Adam(netG.parameters(), lr=1e-3)
            bce = nn.BCEWithLogitsLoss()
            for step in range(100):
                real = torch.randn(32, 2) + 3
                optD.zero_grad()
                fake = netG(torch.randn(32, 8))
                lossD = bce(netD(real), torch.ones(32, 1)) + bce(netD(fake), torch.zeros(32, 1))
                lossD.backward()
                optD.step()
                optG.zero_grad()
                lossG = bce(netD(fake), torch.ones(32, 1))
                lossG.backward()
                optG.step()
            """,
            lines=(("crash", 17), ("carries", 12)),
            crash={"kind": "other", "type": "RuntimeError", "path": "example.py", "line": 17, "column": 5,
                   "message": "Trying to backward through the graph a second time (or directly access "
                              "saved tensors after they have already been freed)."},
            diff="""
            faultlens: training_loop: detach fake where line 12 uses it: a later loss backwards through it again
            --- ./example.py
            +++ ./example.py
            @@ -9,7 +9,8 @@
                 real = torch.randn(32, 2) + 3
                 optD.zero_grad()
                 fake = netG(torch.randn(32, 8))
            -    lossD = bce(netD(real), torch.ones(32, 1)) + bce(netD(fake), torch.zeros(32, 1))
            +    # faultlens: detach fake where line 12 uses it: a later loss backwards through it again
            +    lossD = bce(netD(real), torch.ones(32, 1)) + bce(netD(fake.detach()), torch.zeros(32, 1))
                 lossD.backward()
                 optD.step()
                 optG.zero_grad()
            """,
            note="a generator's output fed undetached to the discriminator's loss, then to its own"),
        Example("""
            import torch
            import torch.nn as nn
            from torch.utils.data import DataLoader, TensorDataset
            loader = DataLoader(TensorDataset(torch.randn(64, 6), torch.randint(0, 2, (64,))), batch_size=8)
            model = nn.Linear(6, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(5):
                for xb, yb in loader:
                    out = model(xb)
                    loss = criterion(out, yb)
                    loss.backward()
                    optimizer.step()
            """,
            lines=(("insertion_point", 10), ("insertion_point", 12), ("related", 12)),
            detections=(("accumulating_gradients", {}),),
            diff="""
            faultlens: training_loop: insert optimizer.zero_grad() before line 10
            --- ./example.py
            +++ ./example.py
            @@ -7,6 +7,8 @@
             optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
             for epoch in range(5):
                 for xb, yb in loader:
            +        # faultlens: insert optimizer.zero_grad() before line 10
            +        optimizer.zero_grad()
                     out = model(xb)
                     loss = criterion(out, yb)
                     loss.backward()
            """,
            note="no zero_grad: inserted before the forward"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Linear(3, 1)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(32, 3), torch.randn(32, 1)
            for step in range(100):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            """,
            lines=(("insertion_point", 10), ("related", 9)),
            detections=(("missing_update", {"reason": "no_step"}),),
            diff="""
            faultlens: training_loop: insert optimizer.step() after line 10
            --- ./example.py
            +++ ./example.py
            @@ -8,3 +8,5 @@
                 loss = ((model(x) - y) ** 2).mean()
                 loss.backward()
                 torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            +    # faultlens: insert optimizer.step() after line 10
            +    optimizer.step()
            """,
            note="no step(): inserted after backward and clipping"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Linear(3, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(32, 3), torch.randn(32, 1)
            for step in range(100):
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.zero_grad()
                opt.step()
            """,
            lines=(("misplaced", 9), ("related", 8)),
            detections=(("missing_update", {"reason": "cleared"}),),
            diff="""
            faultlens: training_loop: move opt.zero_grad() from line 9 (between backward and step) to line 7
            --- ./example.py
            +++ ./example.py
            @@ -4,7 +4,8 @@
             opt = torch.optim.SGD(model.parameters(), lr=0.01)
             x, y = torch.randn(32, 3), torch.randn(32, 1)
             for step in range(100):
            +    # faultlens: move opt.zero_grad() from line 9 (between backward and step) to line 7
            +    opt.zero_grad()
                 loss = ((model(x) - y) ** 2).mean()
                 loss.backward()
            -    opt.zero_grad()
                 opt.step()
            """,
            note="zero_grad between backward and step: moved to the top of the loop"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Linear(3, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(32, 3), torch.randn(32, 1)
            for step in range(100):
                opt.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.zero_grad()
                opt.step()
            """,
            lines=(("misplaced", 10), ("related", 9)),
            detections=(("missing_update", {"reason": "cleared"}),),
            diff="""
            faultlens: training_loop: remove opt.zero_grad() at line 10: it clears the gradients before step()
            --- ./example.py
            +++ ./example.py
            @@ -7,5 +7,5 @@
                 opt.zero_grad()
                 loss = ((model(x) - y) ** 2).mean()
                 loss.backward()
            -    opt.zero_grad()
            +    # faultlens: remove opt.zero_grad() at line 10: it clears the gradients before step()
                 opt.step()
            """,
            note="a second zero_grad before step: removed"),
        Example("""
            import torch
            import torch.nn as nn
            net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
            x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
            xv, yv = torch.randn(64, 10), torch.randint(0, 2, (64,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(net(x), y)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    val = criterion(net(xv), yv)
            """,
            lines=(("insertion_point", 13), ("related", 14)),
            detections=(("eval_mode_missing", {}),),
            diff="""
            faultlens: training_loop: insert net.eval() before line 13 and net.train() before line 9
            --- ./example.py
            +++ ./example.py
            @@ -6,9 +6,12 @@
             x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
             xv, yv = torch.randn(64, 10), torch.randint(0, 2, (64,))
             for epoch in range(10):
            +    # faultlens: insert net.eval() before line 13 and net.train() before line 9
            +    net.train()
                 optimizer.zero_grad()
                 loss = criterion(net(x), y)
                 loss.backward()
                 optimizer.step()
            +    net.eval()
                 with torch.no_grad():
                     val = criterion(net(xv), yv)
            """,
            note="evaluation with dropout on: eval() before it, train() at the top of the epoch"),
        Example("""
            import torch
            import torch.nn as nn
            net = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
            x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(net(x), y)
                loss.backward()
                optimizer.step()
                net.eval()
                with torch.no_grad():
                    val = criterion(net(x), y)
            """,
            lines=(("insertion_point", 8), ("related", 12)),
            detections=(("train_mode_missing", {}),),
            diff="""
            faultlens: training_loop: insert net.train() before line 8
            --- ./example.py
            +++ ./example.py
            @@ -5,6 +5,8 @@
             optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
             x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
             for epoch in range(10):
            +    # faultlens: insert net.train() before line 8
            +    net.train()
                 optimizer.zero_grad()
                 loss = criterion(net(x), y)
                 loss.backward()
            """,
            note="eval() never undone: train() at the top of the epoch"),
        Example("""
            import torch
            w1 = torch.randn(4, 8, requires_grad=True)
            w2 = torch.randn(8, 1, requires_grad=True)
            learning_rate = 0.01
            x, y = torch.randn(32, 4), torch.randn(32, 1)
            for t in range(100):
                pred = x.mm(w1).clamp(min=0).mm(w2)
                loss = (pred - y).pow(2).sum()
                loss.backward()
                with torch.no_grad():
                    w1 -= learning_rate * w1.grad
                    w2 -= learning_rate * w2.grad
            """,
            lines=(("insertion_point", 12), ("insertion_point", 7), ("insertion_point", 9), ("related", 9)),
            detections=(("accumulating_gradients", {}),),
            diff="""
            faultlens: training_loop: clear the gradients after the hand-written update at line 12: w1.grad = None; w2.grad = None
            --- ./example.py
            +++ ./example.py
            @@ -10,3 +10,5 @@
                 with torch.no_grad():
                     w1 -= learning_rate * w1.grad
                     w2 -= learning_rate * w2.grad
            +        # faultlens: clear the gradients after the hand-written update at line 12: w1.grad = None; w2.grad = None
            +        w1.grad = None; w2.grad = None
            """,
            note="hand-written updates: the gradients cleared after them"),
    ]

    def locate(self, c: Collector) -> None:
        g = c.graph
        names = [d.symptom for d in c.detections]
        ab = None
        self._locate_freed_graph(c)
        for o in g.nodes("optimizer"):
            # a hand-written update that adds the gradient (``w += lr * grad_w``): the update
            # statement whose sign is wrong, not the first update of the optimizer
            if o.get("manual") and o.get("ascent") and isinstance(o.get("ascent_span"), dict):
                c.add_span(o.get("ascent_span"), o.id, "update", "adds the gradient")
        if "accumulating_gradients" in names:
            back = _calls(g, "backward")
            step_loops = g.nodes("loop", role="step") or [n for n in g.nodes("loop") if n.get("role") != "epoch"]
            loop = None
            if back:
                lid = back[0].get("loop")
                loop = c.node(lid) if lid else None
            loop = loop or (step_loops[0] if step_loops else None)
            if loop is not None:
                # the two places people clear gradients: just before the iteration's training
                # forward (the PyTorch tutorials' order: zero_grad, forward, loss, backward, step),
                # else the loop's first statement; and just before backward (zero_grad, backward,
                # step after the loss is computed). Both are reported, the first one first.
                ab = resolve_path(g, loop.span.path)
                b0 = back[0] if back else None
                manual = _manual_updates(g, loop)
                if manual:
                    # hand-written updates: the gradients are cleared right after the last update
                    # (the PyTorch tutorials' ``w.grad.zero_()`` / ``w.grad = None`` inside no_grad)
                    st, nxt = src.next_stmt(ab, manual[-1].span.end_line)
                    if nxt is not None:
                        c.add_pos(ab, src.pos_of(nxt), manual[-1].id, "insertion_point", "p.grad = None")
                    elif st is not None:  # nothing follows in its block: the update it belongs after
                        c.add_pos(ab, src.pos_of(st), manual[-1].id, "insertion_point", AFTER)
                fwd = [f for f in _calls(g, "forward") if b0 is not None and f.get("loop") == loop.id
                       and not f.get("contexts") and f.span.path == b0.span.path and f.span.line < b0.span.line]
                at = src.stmt_containing(ab, fwd[0].span.line) if fwd else None
                first = at[0] if at is not None else src.first_body_stmt(ab, loop.span.line)
                if first is not None:
                    c.add_pos(ab, src.pos_of(first), loop.id, "insertion_point", "optimizer.zero_grad()")
                before_back = src.stmt_containing(ab, b0.span.line) if b0 is not None else None
                if before_back is not None and (first is None or before_back[0].lineno != first.lineno):
                    c.add_pos(ab, src.pos_of(before_back[0]), b0.id, "insertion_point", "optimizer.zero_grad()")
            for b in back[:1]:
                c.add_span(b.span, b.id, "related")
        if "missing_update" in names:
            reason = next((d.details.get("reason") for d in c.detections if d.symptom == "missing_update"), "no_step")
            if reason == "cleared":
                zs = _calls(g, "zero_grad")
                bk = _calls(g, "backward")
                st = _calls(g, "step")
                if bk and st:
                    b0, s0 = bk[0], st[0]
                    zs = [z for z in zs if z.span.path == b0.span.path and b0.span.line < z.span.line < s0.span.line] or zs
                for z in zs[:1]:
                    c.add_span(z.span, z.id, "misplaced")
            b = _unstepped_backward(g)
            if b is not None:
                ab = resolve_path(g, b.span.path)
                after = b
                for cl in (_calls(g, "clip_grad_norm_") + _calls(g, "clip_grad_value_")):
                    if cl.span.path == b.span.path and cl.span.line > after.span.line and cl.get("loop") == b.get("loop"):
                        after = cl
                st, nxt = src.next_stmt(ab, after.span.end_line)
                if nxt is not None and reason != "cleared":
                    c.add_pos(ab, src.pos_of(nxt), b.id, "insertion_point", "optimizer.step()")
                elif reason != "cleared":  # nothing follows in its block: the statement it belongs after
                    if st is not None:
                        c.add_pos(ab, src.pos_of(st), b.id, "insertion_point", AFTER)
                    else:
                        c.add_span(after.span, b.id, "insertion_point", AFTER)
                c.add_span(b.span, b.id, "related")
        if "eval_mode_missing" in names:
            ctxs = [n for n in g.nodes("context") if n.get("ctx") in ("no_grad", "inference_mode")]
            fwd = [n for n in _calls(g, "forward") if n.get("contexts")]
            target = None
            if fwd:
                ctx = c.node((fwd[0].get("contexts") or [None])[-1])
                target = ctx or fwd[0]
            elif ctxs:
                target = ctxs[0]
            if target is not None:
                c.add_span(target.span, target.id, "insertion_point", "model.eval()")
            for f in fwd[:1]:
                c.add_span(f.span, f.id, "related")
        if "train_mode_missing" in names:
            loops = g.nodes("loop", role="epoch") or g.nodes("loop", role="step")
            if loops:
                ab = resolve_path(g, loops[0].span.path)
                first = src.first_body_stmt(ab, loops[0].span.line)
                if first is not None:
                    c.add_pos(ab, src.pos_of(first), loops[0].id, "insertion_point", "model.train()")
            for e in _calls(g, "eval")[:1]:
                c.add_span(e.span, e.id, "related")
        if not c.out:
            for m in ("zero_grad", "backward", "step"):
                for n in _calls(g, m)[:1]:
                    c.add_span(n.span, n.id, "related")

    @staticmethod
    def _locate_freed_graph(c: Collector) -> None:
        """A backward through an already freed graph: the statement that carries the graph into
        it (a recurrent state kept across iterations, one output fed to two losses), role
        ``carries`` with the carrying variable as its note (faultlens/localizer/carried.py)."""
        g = c.graph
        if g is None or FREED_GRAPH_MESSAGE not in str((c.crash or {}).get("message") or ""):
            return
        # the statement that raised, as the crash handler located it (it runs first)
        raised = next((l for l in c.out if l.role == "crash"), None)
        if raised is None:
            return
        modules = {v for n in g.nodes("model") + g.nodes("layer") if (v := var_name(n, ""))}
        modules |= {str(n.get("attr")) for n in g.nodes("layer") if n.get("attr")}
        for hit in carried_statements(raised.abspath, raised.line, modules):
            c.add_pos(raised.abspath, src.pos_of(hit.stmt), None, "carries", f"{hit.kind}:{hit.name}")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        carries = [l for l in (locations or []) if l.role == "carries"]
        if carries:
            return _detach_patch(carries[0])
        names = {d.symptom for d in fault.detections}
        opt = (g.nodes("optimizer") or [None])[0]
        ov = var_name(opt, "optimizer")
        models = g.nodes("model")
        mv = var_name(models[0] if models else None, "model")
        ins = [l for l in (locations or []) if l.role == "insertion_point"]
        if "accumulating_gradients" in names and ins:
            l = ins[0]
            upd = g.node(l.node) if l.node and l.node in g else None
            if opt is not None and opt.get("manual") and upd is not None and upd.kind == "call" and upd.get("manual"):
                # the insertion point follows a hand-written update: clear each updated tensor's
                # gradient after it (there is no optimizer object to call zero_grad on)
                params = [p for p in (opt.get("params") or []) if isinstance(p, str) and p.isidentifier()]
                if params:
                    code = "; ".join(f"{p}.grad = None" for p in params)
                    return (l.abspath, [InsertStmt(upd.span.line, code + "\n", after=True)],
                            f"clear the gradients after the hand-written update at line {upd.span.line}: {code}")
            if l.note == AFTER:
                return l.abspath, [InsertStmt(l.line, f"{ov}.zero_grad()\n", after=True)], \
                    f"insert {ov}.zero_grad() after line {l.line}"
            return l.abspath, [InsertStmt(l.line, f"{ov}.zero_grad()\n")], f"insert {ov}.zero_grad() before line {l.line}"
        if "missing_update" in names:
            reason = next((d.details.get("reason") for d in fault.detections if d.symptom == "missing_update"), "no_step")
            if reason == "cleared":
                mis = [l for l in (locations or []) if l.role == "misplaced"]
                back = g.nodes("call", method="backward")
                if mis and back:
                    others = [z for z in g.nodes("call", method="zero_grad") if z.span.line < back[0].span.line
                              and z.get("loop") == back[0].get("loop") and z.span.path == back[0].span.path]
                    if others:  # gradients are already cleared before backward: just drop the extra call
                        return mis[0].abspath, [RemoveStmt(mis[0].line)], \
                            f"remove {ov}.zero_grad() at line {mis[0].line}: it clears the gradients before step()"
                    loop = graph_node(g, back[0].get("loop"))
                    pos = _first_stmt_pos(g, loop) if loop is not None else None
                    if pos and pos[0] == mis[0].abspath:
                        return pos[0], [RemoveStmt(mis[0].line), InsertStmt(pos[1], f"{ov}.zero_grad()\n")], \
                            f"move {ov}.zero_grad() from line {mis[0].line} (between backward and step) to line {pos[1]}"
                return None
            b0 = _unstepped_backward(g)
            if ins and b0 is not None:
                l = ins[0]
                after = b0
                idle = next((d.node for d in fault.detections if d.symptom == "missing_update"
                             and d.details.get("reason") == "idle_optimizer" and d.node in g), None)
                if idle is not None:  # the optimizer that never stepped is the one to call
                    ov = var_name(g.node(idle), ov)
                for cl in g.nodes("call", method="clip_grad_norm_") + g.nodes("call", method="clip_grad_value_"):
                    if cl.span.path == after.span.path and cl.span.line > after.span.line and cl.get("loop") == after.get("loop"):
                        after = cl
                st, nxt = src.next_stmt(l.abspath, after.span.end_line)
                if st is None:
                    return None
                if nxt is None:  # nothing follows in its block: insert after it
                    return l.abspath, [InsertStmt(st.lineno, f"{ov}.step()\n", after=True)], \
                        f"insert {ov}.step() after line {st.end_lineno}"
                return l.abspath, [InsertStmt(nxt.lineno, f"{ov}.step()\n")], f"insert {ov}.step() before line {nxt.lineno}"
        if "eval_mode_missing" in names and ins:
            l = ins[0]
            edits = [InsertStmt(l.line, f"{mv}.eval()\n")]
            desc = f"insert {mv}.eval() before line {l.line}"
            if not g.nodes("call", method="train"):
                loops = g.nodes("loop", role="epoch")
                pos = _first_stmt_pos(g, loops[0]) if loops else None
                if pos and pos[0] == l.abspath and pos[1] != l.line:
                    edits.append(InsertStmt(pos[1], f"{mv}.train()\n"))
                    desc += f" and {mv}.train() before line {pos[1]}"
            return l.abspath, edits, desc
        if "train_mode_missing" in names and ins:
            l = ins[0]
            return l.abspath, [InsertStmt(l.line, f"{mv}.train()\n")], f"insert {mv}.train() before line {l.line}"
        return None


def _detach_patch(l) -> EditPlan | None:
    """``.detach()`` where the graph is carried: the earlier loss's use of a shared output is
    given ``name.detach()``; a carried state is detached before the statement that reads it
    (a tuple state, an LSTM's ``(h, c)``, element by element)."""
    kind, _, name = l.note.partition(":")
    found = src.stmt_at(l.abspath, l.line)
    if found is None or not name.isidentifier():
        return None
    st = found[0]
    if kind == "shared":
        use = next((n for n in ast.walk(st) if isinstance(n, ast.Name) and n.id == name
                    and isinstance(n.ctx, ast.Load)), None)
        if use is None:
            return None
        return l.abspath, [ReplaceExpr(use.lineno, use.col_offset + 1, f"{name}.detach()", use.end_lineno,
                                       use.end_col_offset + 1)], \
            f"detach {name} where line {l.line} uses it: a later loss backwards through it again"
    code = (f"{name} = tuple(t.detach() for t in {name}) if isinstance({name}, tuple) else {name}.detach()\n")
    return l.abspath, [InsertStmt(l.line, code)], \
        f"detach {name} before line {l.line}: it carries the previous iteration's graph into this one"


def _first_stmt_pos(g, loop) -> tuple[str, int] | None:
    ab = resolve_path(g, loop.span.path)
    first = src.first_body_stmt(ab, loop.span.line)
    return (ab, first.lineno) if first is not None else None
