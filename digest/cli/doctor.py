"""`digest doctor`: is this deployment ready? Settings, secrets, URL, database, SMTP, DNS."""

from __future__ import annotations

import typer

from digest.cli.common import console, handle_errors, print_json
from digest.config import load_settings
from digest.errors import ConfigError
from digest.jobs.doctor import Finding, Level, run_checks, settings_problem, worst

_STYLES = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "bold red", Level.SKIPPED: "dim"}


@handle_errors
def doctor(
    offline: bool = typer.Option(False, "--offline", help="Skip the network checks (SMTP relay, DNS records)."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check the deployment like Django's `check --deploy`: secret key, https base URL, proxies,
    /metrics, the database (reachable, migrated, writable), the SMTP relay (reachable, TLS,
    login) and the From domain's SPF, DKIM and DMARC records. Says what to fix for each
    problem; exits 1 when anything is wrong (warnings alone exit 0).

    Example:  digest doctor && digest serve
    """
    try:
        findings = run_checks(load_settings(), offline=offline)
    except ConfigError as err:  # settings that do not load: that is the finding
        findings = [settings_problem(str(err))]
    if as_json:
        print_json({"ok": worst(findings) != Level.ERROR, "findings": [f.as_dict() for f in findings]})
    else:
        _print(findings)
    if worst(findings) == Level.ERROR:
        raise typer.Exit(1)


def _print(findings: list[Finding]) -> None:
    for finding in findings:
        mark = f"[{_STYLES[finding.level]}]{finding.level.value:<8}[/]"
        console.print(f"{mark} [bold]{finding.check}[/]: {finding.message}", highlight=False, soft_wrap=True)
        if finding.fix:
            console.print(f"{'':8}   fix: {finding.fix}", highlight=False, soft_wrap=True)
    errors = sum(f.level == Level.ERROR for f in findings)
    warnings = sum(f.level == Level.WARNING for f in findings)
    summary = "ready" if not errors else f"{errors} problem{'s' if errors != 1 else ''} to fix"
    console.print(f"[bold]{summary}[/] ({warnings} warning{'s' if warnings != 1 else ''})", highlight=False, soft_wrap=True)
