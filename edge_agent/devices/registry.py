"""All known entities, fed by every adapter's discovery and state messages.

The registry is not thread-safe by itself: the daemon feeds it from its one event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from edge_agent.devices.adapter import Adapter, DeviceCommand, MqttMessage, RenderError
from edge_agent.devices.model import Entity
from edge_agent.devices.static import StaticAdapter

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, adapters: Sequence[Adapter]) -> None:
        self.adapters: dict[str, Adapter] = {"static": StaticAdapter()}
        self.adapters.update({adapter.ecosystem: adapter for adapter in adapters})
        self._entities: dict[str, Entity] = {}
        self._merged: dict[str, str] = {}
        """Id of an entity folded into another -> the id it lives under."""
        self._twins: dict[str, list[Entity]] = {}
        """Id -> the same device as other sources describe it (their state topics count)."""
        self._by_topic: dict[str, set[str]] = {}
        self.version = 0
        """Bumped on every change to the set of entities or their names (not state), so
        that prompts, grammars and recognizer vocabularies know when to rebuild."""

    # -- reading ---------------------------------------------------------------------

    def entities(self) -> list[Entity]:
        return list(self._entities.values())

    def get(self, entity_id: str) -> Entity | None:
        return self._entities.get(self._merged.get(entity_id, entity_id))

    def areas(self) -> list[str]:
        return sorted({e.area for e in self._entities.values() if e.area})

    def floors(self) -> list[str]:
        return sorted({e.floor for e in self._entities.values() if e.floor})

    def subscriptions(self) -> list[str]:
        """Every topic filter to subscribe to: discovery plus known state topics."""
        topics = [t for a in self.adapters.values() for t in a.discovery_topics()]
        return sorted({*topics, *self._by_topic})

    # -- feeding ---------------------------------------------------------------------

    def add(self, entities: Iterable[Entity]) -> None:
        """Add entities directly (static devices from the config file)."""
        for entity in entities:
            self._put(entity)

    def handle(self, topic: str, payload: bytes, now: datetime | None = None) -> bool:
        """Feed one MQTT message; True if it changed the registry or a state."""
        now = now or datetime.now(UTC)
        for adapter in self.adapters.values():
            if adapter.is_discovery(topic):
                update = adapter.parse_discovery(topic, payload)
                for entity_id in update.removed:
                    self._remove(entity_id)
                for entity in update.entities:
                    self._put(entity)
                for entity_id, online in update.availability.items():
                    found = self.get(entity_id)
                    if found is not None:
                        found.available = online
                return bool(update.removed or update.entities or update.availability)
        return self._handle_state(topic, payload, now)

    def _handle_state(self, topic: str, payload: bytes, now: datetime) -> bool:
        changed = False
        for entity_id in sorted(self._by_topic.get(topic, ())):
            entity = self._entities.get(entity_id)
            if entity is None:
                continue
            for source in self._sources(entity):
                fields = self.adapters[source.ecosystem].parse_state(source, topic, payload, now)
                if not fields:
                    continue
                available = fields.pop("available", None)
                if available is not None:
                    entity.available = bool(available)
                if fields:
                    entity.state.update(fields)
                    entity.state_time = now
                changed = True
        return changed

    def _sources(self, entity: Entity) -> list[Entity]:
        """The entity as each source described it."""
        return [entity, *self._twins.get(entity.id, [])]

    def _put(self, entity: Entity) -> None:
        if entity.ecosystem not in self.adapters:
            log.warning("entity %s: no adapter for %s, ignored", entity.id, entity.ecosystem)
            return
        twin = self._twin_of(entity)
        if twin is not None and twin.id != entity.id:
            self._merge(twin, entity)
            return
        old = self._entities.get(entity.id)
        if old is not None:
            entity.state, entity.state_time = old.state, old.state_time
            entity.available = entity.available if entity.available is not None else old.available
            self._unindex(old)
        self._entities[entity.id] = entity
        self._index(entity)
        self.version += 1

    def _twin_of(self, entity: Entity) -> Entity | None:
        """An entity already known through another source: same command topic."""
        key = _command_key(entity)
        if key is None:
            return None
        for other in self._entities.values():
            if other.ecosystem != entity.ecosystem and _command_key(other) == key:
                return other
        return None

    def _merge(self, kept: Entity, other: Entity) -> None:
        """Fold ``other`` into ``kept``: one entity, the union of names, the first area."""
        log.info("%s is the same device as %s: merged", other.id, kept.id)
        self._merged[other.id] = kept.id
        twins = self._twins.setdefault(kept.id, [])
        twins[:] = [t for t in twins if t.id != other.id] + [other]
        self._index(other, under=kept.id)
        for alias in [other.name, *other.aliases]:
            if alias.lower() not in {w.lower() for w in kept.words()}:
                kept.aliases.append(alias)
        kept.area = kept.area or other.area
        kept.floor = kept.floor or other.floor
        self.version += 1

    def _remove(self, entity_id: str) -> None:
        entity = self._entities.pop(entity_id, None)
        if entity is not None:
            self._unindex(entity)
            self._twins.pop(entity_id, None)
            self.version += 1
        for alias, target in list(self._merged.items()):
            if entity_id in (target, alias):
                del self._merged[alias]

    def _index(self, entity: Entity, under: str | None = None) -> None:
        adapter = self.adapters.get(entity.ecosystem)
        topics = adapter.state_topics(entity) if adapter is not None else []
        for topic in topics:
            self._by_topic.setdefault(topic, set()).add(under or entity.id)

    def _unindex(self, entity: Entity) -> None:
        for ids in self._by_topic.values():
            ids.discard(entity.id)
        self._by_topic = {t: ids for t, ids in self._by_topic.items() if ids}

    # -- acting ----------------------------------------------------------------------

    def render(self, command: DeviceCommand) -> list[MqttMessage]:
        entity = self.get(command.entity_id)
        if entity is None:
            raise RenderError(f"unknown entity {command.entity_id}")
        adapter = self.adapters.get(entity.ecosystem)
        if adapter is None:
            raise RenderError(f"no adapter for {entity.ecosystem}")
        messages = adapter.render(entity, command)
        # Whatever an adapter says, commands are never retained.
        return [MqttMessage(m.topic, m.payload, qos=1, retain=False) for m in messages]


def _command_key(entity: Entity) -> str | None:
    """What makes two sources' entities one device: the same domain commanded on the same
    topic (zigbee2mqtt's own ``.../set`` topic, announced again through its Home Assistant
    discovery). Entities without commands are never merged."""
    topic = entity.native.get("command_topic") or entity.native.get("set_topic")
    if not topic or not entity.actions:
        return None
    return f"{entity.domain} {topic}"
