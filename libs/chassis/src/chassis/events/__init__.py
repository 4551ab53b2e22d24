"""Events between services: outbox on the producer, broker in between, inbox on the consumer.

A service publishes with `publish(session, type, payload)` inside its own transaction;
`bazaar events worker <service>` relays the outbox to the broker and runs the service's
handlers, each in one transaction with its inbox record.
"""

from chassis.events.contracts import ContractViolation, validate_payload
from chassis.events.envelope import Event
from chassis.events.inbox import Handler, handle_once, was_handled
from chassis.events.outbox import outbox_events, publish
from chassis.events.tables import add_event_tables, create_event_tables, drop_event_tables

__all__ = [
    "ContractViolation",
    "Event",
    "Handler",
    "add_event_tables",
    "create_event_tables",
    "drop_event_tables",
    "handle_once",
    "outbox_events",
    "publish",
    "validate_payload",
    "was_handled",
]
