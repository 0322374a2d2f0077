"""The bus topology: exchanges, the dead-letter exchange and queue, quorum-queue arguments, and a reference doc.

Exchange names are collected from `binance_tool.events.ALL_TYPES` (each class's `EXCHANGE`), so a new event
type on a new exchange adds itself.  Every subscription queue is a durable **quorum** queue with a delivery
limit and *at-least-once* dead-lettering to `bt.dlx` (routing key = the source queue's name); the dead-letter
queue `bt.dead-letter` is bound `#` to `bt.dlx` and therefore receives everything dead-lettered.

At-least-once dead-lettering (RabbitMQ >= 3.10) needs: a quorum source queue, `x-dead-letter-strategy:
at-least-once`, `x-overflow: reject-publish` (with `drop-head` the broker silently falls back to at-most-once),
a dead-letter exchange, and the `stream_queue` feature flag enabled on the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from binance_tool.bus.api import Subscription
from binance_tool.events import ALL_TYPES, Envelope

DEAD_LETTER_EXCHANGE = "bt.dlx"
DEAD_LETTER_QUEUE = "bt.dead-letter"
EXCHANGE_TYPE = "topic"

# Headers set on messages that the consumer dead-letters itself (malformed / unexpected bodies).
HEADER_ERROR = "x-error"
HEADER_ORIGINAL_QUEUE = "x-original-queue"
HEADER_ORIGINAL_ROUTING_KEY = "x-original-routing-key"
HEADER_ORIGINAL_EXCHANGE = "x-original-exchange"
HEADER_VERSION = "x-version"
HEADER_DELIVERY_COUNT = "x-delivery-count"


def exchange_names(types: Sequence[type[Envelope]] = ALL_TYPES) -> tuple[str, ...]:
    """The durable topic exchanges carrying events (sorted, unique), without the dead-letter exchange."""
    return tuple(sorted({cls.EXCHANGE for cls in types}))


def queue_arguments(subscription: Subscription) -> dict[str, object]:
    """The `queue.declare` arguments of a subscription's quorum queue.

    `subscription.extra_arguments` is merged last (e.g. `x-max-length`), but may not override the arguments
    that make delivery safe: that raises `ValueError` naming the argument.
    """
    arguments: dict[str, object] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": subscription.delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": subscription.queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    clashing = sorted(k for k, v in subscription.extra_arguments.items() if k in arguments and arguments[k] != v)
    if clashing:
        raise ValueError(f"subscription {subscription.queue!r}: extra_arguments may not override {', '.join(clashing)}")
    return {**arguments, **subscription.extra_arguments}


def dead_letter_queue_arguments() -> dict[str, object]:
    """The dead-letter queue is a quorum queue without a dead-letter exchange of its own (no loops)."""
    return {"x-queue-type": "quorum"}


def check_bindings(subscriptions: Sequence[Subscription]) -> None:
    """Raise `ValueError` if a binding names an exchange that is not part of the topology (likely a typo)."""
    known = set(exchange_names())
    for sub in subscriptions:
        for binding in sub.bindings:
            if binding.exchange not in known:
                raise ValueError(
                    f"subscription {sub.queue!r} binds to unknown exchange {binding.exchange!r} "
                    f"(known: {', '.join(sorted(known))})"
                )


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


@lru_cache(maxsize=65536)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words separated by `.`, `*` = exactly one word, `#` = zero or more words."""
    return _match(_split(pattern), _split(routing_key))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    # Iterative DP over (pattern index, word index): set of reachable word positions per pattern position.
    positions = {0}
    for part in pattern:
        if not positions:
            return False
        if part == "#":
            start = min(positions)
            positions = set(range(start, len(words) + 1))
        elif part == "*":
            positions = {p + 1 for p in positions if p < len(words)}
        else:
            positions = {p + 1 for p in positions if p < len(words) and words[p] == part}
    return len(words) in positions


def render_reference(subscriptions: Sequence[Subscription]) -> str:
    """A markdown reference of exchanges, routing keys per event type, and these subscriptions."""
    lines = [
        "# Bus reference",
        "",
        "Generated from `binance_tool.events.ALL_TYPES` and the services' subscriptions; do not edit by hand.",
        "",
        "## Exchanges",
        "",
        "| Exchange | Type | Durable | Event types |",
        "|---|---|---|---|",
    ]
    for name in exchange_names():
        types = ", ".join(f"`{c.__name__}`" for c in ALL_TYPES if name == c.EXCHANGE)
        lines.append(f"| `{name}` | {EXCHANGE_TYPE} | yes | {types} |")
    lines.append(f"| `{DEAD_LETTER_EXCHANGE}` | {EXCHANGE_TYPE} | yes | dead letters (routing key = source queue) |")
    lines += [
        "",
        f"Dead-letter queue: `{DEAD_LETTER_QUEUE}` (quorum), bound `#` to `{DEAD_LETTER_EXCHANGE}`.",
        "",
        "## Routing keys",
        "",
        "| Event type | Version | Exchange | Routing key | Description |",
        "|---|---|---|---|---|",
    ]
    for cls in ALL_TYPES:
        version = cls.model_fields["version"].default
        description = _cell(cls.DESCRIPTION or (cls.__doc__ or "").strip().split("\n")[0])
        lines.append(f"| `{cls.__name__}` | {version} | `{cls.EXCHANGE}` | `{cls.ROUTING_KEY}` | {description} |")
    lines += ["", "## Subscriptions", ""]
    if not subscriptions:
        lines.append("_None registered._")
    for sub in sorted(subscriptions, key=lambda s: s.queue):
        lines += [f"### `{sub.queue}`", ""]
        if sub.description:
            lines += [_cell(sub.description), ""]
        lines += [
            f"- accepts: {', '.join(f'`{c.__name__}`' for c in sub.accepts) or '_nothing_'}",
            f"- prefetch: {sub.prefetch}; dedup: {'yes' if sub.dedup else 'no'}"
            + (f" (TTL {sub.dedup_ttl_s} s)" if sub.dedup else ""),
            "- bindings:",
        ]
        lines += [f"  - `{b.exchange}` ← `{b.routing_key}`" for b in sub.bindings] or ["  - _none_"]
        lines.append("- arguments:")
        lines += [f"  - `{k}`: `{v}`" for k, v in queue_arguments(sub).items()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
