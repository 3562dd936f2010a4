"""faultlens.localizer.carried: the statement that carries a graph into a second backward, found by
the data-flow walk over the loop body (no torch: plain source files)."""
from __future__ import annotations

import textwrap

from faultlens.localizer.carried import carried_statements


def _write(tmp_path, code: str) -> str:
    p = tmp_path / "prog.py"
    p.write_text(textwrap.dedent(code).lstrip("\n"))
    return str(p)


def _lines(hits):
    return [(h.kind, h.stmt.lineno, h.name) for h in hits]


def test_a_state_read_before_the_iteration_writes_it_is_carried(tmp_path):
    path = _write(tmp_path, """
        h = init()
        for epoch in range(3):
            for x, y in batches:
                opt.zero_grad()
                if epoch > 1:
                    log(h)
                out, h = rnn(x, h)
                loss = crit(head(out), y)
                loss.backward()
                opt.step()
        """)
    assert _lines(carried_statements(path, 9, {"rnn", "head"})) == [("state", 7, "h")]


def test_a_state_detached_where_it_is_produced_is_not_carried(tmp_path):
    path = _write(tmp_path, """
        for x, y in batches:
            out, h = rnn(x, h)
            h = h.detach()
            loss = crit(out, y)
            loss.backward()
        """)
    # h is read (by rnn) before this iteration writes it, but its last write detaches it
    assert carried_statements(path, 5, {"rnn"}) == []


def test_plain_data_shared_by_two_losses_is_not_a_carried_graph(tmp_path):
    path = _write(tmp_path, """
        for x, y in batches:
            target = make_target(y)
            fake = netG(x)
            lossD = crit(netD(fake.detach()), target)
            lossD.backward()
            lossG = crit(netD(fake), target)
            lossG.backward()
        """)
    # target comes from no module, and D's loss uses fake detached: nothing carries a graph
    assert carried_statements(path, 7, {"netG", "netD"}) == []


def test_an_output_used_by_an_earlier_backwarded_loss_is_located_at_that_use(tmp_path):
    path = _write(tmp_path, """
        for x, y in batches:
            fake = netG(x)
            d_out = netD(fake)
            lossD = crit(d_out, zeros)
            lossD.backward()
            lossG = crit(netD(fake), ones)
            lossG.backward()
        """)
    assert _lines(carried_statements(path, 7, {"netG", "netD"})) == [("shared", 3, "fake")]


def test_module_calls_are_known_by_their_last_attribute_and_no_loop_finds_nothing(tmp_path):
    path = _write(tmp_path, """
        for x, y in batches:
            out, self_h = self.rnn(x, self_h)
            loss = out.sum()
            loss.backward()
        """)
    assert _lines(carried_statements(path, 4, {"rnn"})) == [("state", 2, "self_h")]
    flat = _write(tmp_path, "loss = model(x).sum()\nloss.backward()\n")
    assert carried_statements(flat, 2, {"model"}) == []
