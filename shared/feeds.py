"""Reading another service's events through its published contract.

A service publishes its events in one module, `services/<name>/contract.py`: plain event
classes (`ContractEvent`, frozen msgspec Structs: the fields, nothing else) and `TOPICS`, the
stored topic of each. Another service follows that event log with `contract_log(...)`: an
eventsourcing application of the publisher's name (so it reads the same tables) whose mapper
decodes each stored event into the contract's class, never into the publisher's aggregate.
A topic the contract does not name (a newer kind of event) decodes to `Unpublished`, which
projections skip.

Stored events keep the topics they were recorded with; a contract maps them, so a publisher
may rename or move its own classes without its readers noticing. A class stored in several
versions (`class_version`) is upcast by the contract class's `upcast_v{n}_v{n+1}` static
methods, as eventsourcing's own mapper does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent


class ContractEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One published event: which aggregate (`originator_id`), its version after the event,
    and when it was recorded (transaction time, UTC)."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime

    # The version of the stored shape this class reads (`upcast_v1_v2`, ... bring older ones up).
    class_version: ClassVar[int] = 1


class Unpublished(msgspec.Struct, frozen=True):
    """A stored event whose topic the contract does not name: readers skip it."""

    topic: str
    originator_id: UUID
    originator_version: int


class ContractMapper(Mapper[UUID]):
    """Decodes stored events into a contract's classes (`topics`: stored topic -> class)."""

    topics: Mapping[str, type[ContractEvent]] = {}

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = self.topics.get(stored_event.topic)
        originator_id = stored_event.originator_id
        if not isinstance(originator_id, UUID):
            originator_id = UUID(str(originator_id))
        if cls is None:
            return Unpublished(stored_event.topic, originator_id, stored_event.originator_version)
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        fields: dict[str, Any] = self.transcoder.decode(state)
        fields["originator_id"] = originator_id
        fields["originator_version"] = stored_event.originator_version
        version = fields.pop("class_version", 1)
        while version < cls.class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(fields)
            version += 1
        return msgspec.convert(fields, cls, strict=False)


def contract_log(name: str, topics: Mapping[str, type[ContractEvent]]) -> type[Application[UUID]]:
    """An application that reads the event log of the service `name` (its tables:
    `<name>_events`, in the schema the environment names) as `topics`' classes. It is only
    ever read (projection runners subscribe to it); it records nothing."""
    mapper_class = type(f"{name.title()}ContractMapper", (ContractMapper,), {"topics": dict(topics)})

    def construct_mapper(self: Application[UUID]) -> Mapper[UUID]:
        # The publisher's transcodings (eventsourcing's defaults), its cipher and compressor.
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=mapper_class)

    return type(f"{name.title()}Log", (Application,), {"name": name, "construct_mapper": construct_mapper})
