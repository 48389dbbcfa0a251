"""Roles and what each may do; the one table every route of the console is checked against.

=============================  ========  ========  =======
permission                     analyst   approver  auditor
=============================  ========  ========  =======
see the queue, items, JSON     yes       yes       yes
reject a pending item          yes       yes       no
approve a pending item         no        yes       no
revoke a published item        no        yes       no
share now (push the outbox)    no        yes       no
audit view (the ledger)        no        yes       yes
dashboard                      yes       yes       yes
=============================  ========  ========  =======

An auditor changes nothing. An analyst can stop an object (reject) but never let one go.
Approving needs the approver role *and* a name that has not approved the item yet: the
two-person rule itself lives in the queue (exchange._queue), so no route can get around it.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ANALYST = "analyst"
    APPROVER = "approver"
    AUDITOR = "auditor"


class Permission(StrEnum):
    VIEW_QUEUE = "view-queue"
    REJECT = "reject"
    APPROVE = "approve"
    REVOKE = "revoke"
    SHARE = "share"
    VIEW_AUDIT = "view-audit"
    VIEW_DASHBOARD = "view-dashboard"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ANALYST: frozenset({Permission.VIEW_QUEUE, Permission.REJECT, Permission.VIEW_DASHBOARD}),
    Role.APPROVER: frozenset(Permission),
    Role.AUDITOR: frozenset({Permission.VIEW_QUEUE, Permission.VIEW_AUDIT, Permission.VIEW_DASHBOARD}),
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]
