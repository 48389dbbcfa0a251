"""``metagate policy check | explain``: a policy file validated, or told in plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metagate._exits import command_errors

if TYPE_CHECKING:
    from policies import Policy

policy_app = typer.Typer(no_args_is_help=True, help="Check or explain a policy file.")

PolicyArg = Annotated[Path, typer.Argument(help="a site policy file, a profile file or a built-in profile name")]


def load_checked(spec: Path | str) -> Policy:
    """A policy that the gate could run now: valid, current approvals, keys readable."""
    from filters import gated_schema, policy_keys
    from policies import load_policy

    policy = load_policy(spec)
    policy.check_current(datetime.now(UTC))
    gated_schema(policy.profile.fields)
    if policy.keys:
        policy_keys(policy)
    return policy


@policy_app.command()
def check(policy: PolicyArg) -> None:
    """Validate a policy: every error names the file, the line and the field."""
    with command_errors():
        resolved = load_checked(policy)
    typer.echo(
        f"{resolved.source}: ok: policy {resolved.name}, {len(resolved.approvals)} approval(s), "
        f"{len(resolved.keys)} key reference(s), {len(resolved.profile.fields)} fields kept, "
        f"sha256 {resolved.digest}"
    )


@policy_app.command("explain")
def explain_command(policy: PolicyArg) -> None:
    """Say what the policy lets through, drops and pseudonymizes, and under which approval."""
    from collectors import FLOW_FIELDS
    from policies import explain, load_policy

    with command_errors():
        resolved = load_policy(policy)
    typer.echo(explain(resolved, FLOW_FIELDS), nl=False)
