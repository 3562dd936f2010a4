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

from typing import Any

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import InsertStmt, RemoveStmt
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import graph_node, var_name
from faultlens.localizer.patches import CommandLine


def _calls(g: Any, method: str) -> list[Any]:
    return g.nodes("call", method=method)


def _manual_updates(g: Any, loop: Any) -> list[Any]:
    """The hand-written update statements (``w -= lr * w.grad``) of ``loop``, in source order."""
    return sorted((n for n in _calls(g, "step") if n.get("manual") and n.get("loop") == loop.id),
                  key=lambda n: (n.span.end_line, n.span.line))


def _unstepped_backward(g: Any) -> Any:
    """The backward call that no optimizer step follows: the one where a missing ``step()``
    belongs. Several losses trained in one loop (a GAN's discriminator and generator) each have
    their backward; the one followed, in its loop and file, by no ``step`` call before the next
    backward (or the loop's end) is the model whose update is missing. Falls back to the first
    backward when every backward is followed by a step or the program has one backward."""
    calls = _calls(g, "backward")
    if len(calls) < 2:
        return calls[0] if calls else None
    back = sorted(calls, key=lambda n: (n.span.path, n.span.line))
    steps = _calls(g, "step")
    for i, b in enumerate(back):
        nxt = next((o for o in back[i + 1:] if o.span.path == b.span.path and o.get("loop") == b.get("loop")), None)
        stop = nxt.span.line if nxt is not None else float("inf")
        if not any(st.span.path == b.span.path and st.get("loop") == b.get("loop")
                   and b.span.line < st.span.line < stop for st in steps):
            return b
    return calls[0]


class TrainingLoop(FaultHandler):
    fault_type = "training_loop"
    EXAMPLES = [
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
            lines=(("insertion_point", 11), ("related", 9)),
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
            lines=(("insertion_point", 13), ("insertion_point", 7), ("insertion_point", 9), ("related", 9)),
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
                    elif st is not None:
                        end = (st.end_lineno or st.lineno) + 1
                        c.add_pos(ab, src.Pos(end, st.col_offset + 1, end, st.col_offset + 1), manual[-1].id,
                                  "insertion_point", "p.grad = None")
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
                elif reason != "cleared":
                    end = (st.end_lineno if st is not None else after.span.end_line) + 1
                    c.add_pos(ab, src.Pos(end, 1, end, 1), b.id, "insertion_point", "optimizer.step()")
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

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
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


def _first_stmt_pos(g, loop) -> tuple[str, int] | None:
    ab = resolve_path(g, loop.span.path)
    first = src.first_body_stmt(ab, loop.span.line)
    return (ab, first.lineno) if first is not None else None
