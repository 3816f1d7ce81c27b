"""The live console of `mlops-events up` (rich): what runs where, then one line per event as it happens."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tooling.localcloud.dispatch import Attempt

_STYLE = {
    "applied": "green",
    "delivered": "green",
    "posted": "green",
    "fired": "cyan",
    "duplicate": "blue",
    "ignored": "dim",
    "unmatched": "dim",
    "rejected": "yellow",
    "restarted": "magenta",
    "error": "red",
    "retry": "red",
    "unreachable": "red",
    "dead-lettered": "bold red",
    "dropped": "bold red",
}


# Without a terminal (a pipe, a file, CI) rich would lay everything out in 80 columns and cut the URLs and
# log paths of the services table: there, lines are as wide as what they hold.
UNBOUNDED_WIDTH = 10_000


def console_for_output() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=UNBOUNDED_WIDTH)
    return console


class LiveConsole:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or console_for_output()

    def show_services(self, state: dict[str, Any]) -> None:
        table = Table(title="mlops-events up", title_justify="left", show_lines=False)
        table.add_column("service", no_wrap=True)
        table.add_column("where", overflow="fold")  # a URL is copied whole: folded in a narrow terminal, never cut
        table.add_column("log", overflow="fold")
        for name, emulator in state["emulators"].items():
            table.add_row(f"emulator {name}", emulator["url"], emulator["log"])
        for name, function in state["functions"].items():
            table.add_row(name, function["url"], function["log"])
        table.add_row("slack receiver", state["slack_webhook_url"].split("/services/")[0] + "/services/…", "")
        if state.get("kubernetes_api"):
            table.add_row("kubernetes API", state["kubernetes_api"], "")
        table.add_row("control", state["control_url"], "")
        self.console.print(table)
        resources = state["resources"]
        if state.get("only"):
            self.console.print(f"only: {', '.join(state['only'])} (and the emulators they need)")
        lambda_runtime = state.get("lambda_runtime")
        if lambda_runtime:
            self.console.print(f"lambda: {lambda_runtime}")
        self.console.print(f"buckets: {', '.join(resources['buckets']) or '-'}")
        self.console.print(f"topics: {', '.join(resources['topics']) or '-'}")
        for job, when in state.get("schedules", {}).items():
            self.console.print(f"schedule {job}: next run {when}")

    def show(self, attempt: Attempt) -> None:
        clock = attempt.time[11:19] if attempt.time else ""
        line = Text()
        line.append(f"{clock} ", style="dim")
        line.append(f"{attempt.source:<9} ", style="cyan")
        line.append(f"{attempt.function:<18} ")
        line.append(f"{attempt.outcome:<13}", style=_STYLE.get(attempt.outcome, ""))
        latency = f"{attempt.latency_ms:>7.0f} ms" if attempt.latency_ms is not None else " " * 10
        line.append(latency, style="dim")
        retry = f" #{attempt.attempt}" if attempt.attempt > 1 else ""
        line.append(f"{retry} {attempt.subject}")
        if attempt.detail:
            line.append(f" — {attempt.detail[:240]}", style="dim")
        if attempt.next_retry_s is not None:
            line.append(f" (again in {attempt.next_retry_s:g} s)", style="red")
        self.console.print(line, soft_wrap=True)
