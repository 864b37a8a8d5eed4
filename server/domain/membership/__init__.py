"""Member workflows: joining (applications), transfers between sub-unions, status changes.

Every step is one conditional UPDATE of the workflow row (``… WHERE id = ? AND status = ?``,
rowcount checked), so two people acting on the same object at once cannot both succeed; the
loser gets 409. Each step is audited, and each state change is emitted through
:func:`server.core.outbox.emit` (an outbox row plus a job after commit).
"""
