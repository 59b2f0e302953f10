"""Reading another service's events through its published contract.

A service publishes its events in one module, `services/<name>/contract.py`: plain event
classes (`ContractEvent`, frozen msgspec Structs: the fields, nothing else) and `TOPICS`, the
stored topic of each. Another service follows that event log with `contract_log(...)`: an
eventsourcing application of the publisher's name (so it reads the same tables) whose mapper
decodes each stored event into the contract's class, never into the publisher's aggregate.
A topic the contract does not name (a kind of event newer than the reader's code, or one since
removed) cannot be decoded: `UnknownTopic`, which a projection's guard records as a dead letter
(shared.projection), as it does any event its code cannot read; after the fix, it is replayed.

Stored events keep the topics they were recorded with; a contract maps them, so a publisher
may rename or move its own classes without its readers noticing. A class stored in several
versions (`class_version`) is upcast by the contract class's `upcast_v{n}_v{n+1}` static
methods, as eventsourcing's own mapper does.
"""

from __future__ import annotations

import functools
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
    # The topic events of this class are stored under (the first its contract's TOPICS names),
    # for messages about a stored event (a dead letter's topic).
    stored_topic: ClassVar[str] = ""


class UnknownTopic(LookupError):
    """A stored event's topic that the contract does not name."""


# How eventsourcing's JSON transcoder stores an event's first field, its `timestamp`.
_STAMPED = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'


@functools.cache
def _current_tail(cls: type[ContractEvent]) -> bytes:
    """How a state stored in `cls`'s current version (above 1) ends: eventsourcing's mapper
    (ours, `RecordedVersionMapper`) writes its `class_version` last. Once per class."""
    return b',"class_version":%d}' % cls.class_version


class ContractMapper(Mapper[UUID]):
    """Decodes stored events into a contract's classes (`topics`: stored topic -> class).

    The usual stored event (no cipher, no compressor, its class's current version) is decoded
    by msgspec straight into its class: the transcoder's wrapped `timestamp` (always the first
    field: eventsourcing stores the event's attributes in their order, its ids apart) unwrapped
    and the ids put in front, in the bytes. Anything else (an older version to upcast, a value
    the typed decoder refuses) takes the transcoder's way, as eventsourcing's own mapper."""

    topics: Mapping[str, type[ContractEvent]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoders: dict[type[ContractEvent], msgspec.json.Decoder[Any]] = {}

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = self.topics.get(stored_event.topic)
        if cls is None:
            raise UnknownTopic(f"the contract names no event stored as {stored_event.topic!r}")
        originator_id = stored_event.originator_id
        if not isinstance(originator_id, UUID):
            originator_id = UUID(str(originator_id))
        state = stored_event.state
        if not self.cipher and not self.compressor and state.startswith(_STAMPED) and (
                cls.class_version == 1 or state.endswith(_current_tail(cls))):
            end = state.find(b'"}', len(_STAMPED))
            if end > 0:
                data = b'{"originator_id":"%s","originator_version":%d,"timestamp":"%s"%s' % (
                    originator_id.hex.encode(), stored_event.originator_version, state[len(_STAMPED):end],
                    state[end + 2:])
                try:
                    return self._decoder(cls).decode(data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    pass  # the transcoder's way, below
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

    def _decoder(self, cls: type[ContractEvent]) -> msgspec.json.Decoder[Any]:
        decoder = self._decoders.get(cls)
        if decoder is None:
            decoder = self._decoders[cls] = msgspec.json.Decoder(cls)
        return decoder


def contract_log(name: str, topics: Mapping[str, type[ContractEvent]]) -> type[Application[UUID]]:
    """An application that reads the event log of the service `name` (its tables:
    `<name>_events`, in the schema the environment names) as `topics`' classes. It is only
    ever read (projection runners subscribe to it); it records nothing."""
    mapper_class = type(f"{name.title()}ContractMapper", (ContractMapper,), {"topics": dict(topics)})
    for topic, cls in topics.items():
        if not cls.stored_topic:
            cls.stored_topic = topic

    def construct_mapper(self: Application[UUID]) -> Mapper[UUID]:
        # The publisher's transcodings (eventsourcing's defaults), its cipher and compressor.
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=mapper_class)

    return type(f"{name.title()}Log", (Application,), {"name": name, "construct_mapper": construct_mapper})
