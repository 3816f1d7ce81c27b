"""Block Kit building blocks shared by every Slack message (budget, drift, rollout).

Text users control (a budget name, a model name) goes through `escape_mrkdwn`: Slack reads `<...>` as
links and mentions (`<!channel>`, `<https://evil|click>`), and `&`, `<`, `>` are the only characters
its docs ask to escape. Mentions we add on purpose come from configuration, never from event data.
"""

from __future__ import annotations

import re
from typing import Any

MENTION = re.compile(r"^<(![a-z]+(\^[A-Z0-9]+)?|@[UW][A-Z0-9]+|#[CG][A-Z0-9]+)(\|[^<>]*)?>$")
# ISO 4217 currencies whose amounts have no minor unit.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def money(amount: float, currency: str) -> str:
    decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    return f"{amount:,.{decimals}f} {currency}"


def header(text: str) -> dict[str, Any]:
    # plain_text is never parsed for links or mentions; Slack caps a header at 150 characters.
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A section of label/value fields; values must already be escaped mrkdwn."""
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in pairs]}


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def link(url: str, label: str) -> str:
    return f"<{url}|{escape_mrkdwn(label)}>"


def valid_mention(mention: str) -> bool:
    """`<!here>`, `<!channel>`, `<!subteam^S0123>`, `<@U0123>`: what a configured mention may be."""
    return bool(MENTION.match(mention))
