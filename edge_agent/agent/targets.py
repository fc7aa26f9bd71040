"""Groups a request may name ("lights in Kitchen", "all covers") and what they contain."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.agent.retrieval import PLURALS
from edge_agent.devices.model import Domain, Entity

MAX_GROUPS = 8
_ACTIONABLE: tuple[Domain, ...] = ("light", "switch", "fan", "cover", "lock", "valve", "climate")


@dataclass(frozen=True)
class Group:
    label: str
    domain: Domain | None
    """None: every actionable device of the place."""
    place: str | None
    """An area or a floor; None: the whole home."""

    def contains(self, entity: Entity) -> bool:
        if self.domain is not None and entity.domain != self.domain:
            return False
        if self.domain is None and entity.domain not in _ACTIONABLE:
            return False
        return self.place is None or self.place in (entity.area, entity.floor)


def groups_for(
    candidates: list[Entity], places: list[str], entities: list[Entity], here: str | None = None
) -> list[Group]:
    """Groups worth offering: the candidates' domains in the places the request names
    (or else the room it was spoken in and the candidates' own areas), and each domain
    across the home, right after the named places' (or the first place's when none is
    named: a request from a room for "all the lights" lost its "all lights" to the
    groups of the second and third places)."""
    domains: list[Domain] = []
    for entity in candidates:
        if entity.domain in _ACTIONABLE and entity.domain not in domains:
            domains.append(entity.domain)
    areas = places or list(
        dict.fromkeys([*([here] if here else []), *(e.area for e in candidates if e.area)])
    )
    blocks: list[list[Group]] = []
    for place in areas[:3]:
        in_place = [e for e in entities if place in (e.area, e.floor)]
        block = [
            Group(f"{PLURALS[domain]} in {place}", domain, place)
            for domain in domains
            if any(e.domain == domain for e in in_place)
        ]
        if places and in_place:
            block.append(Group(f"everything in {place}", None, place))
        blocks.append(block)
    home = [Group(f"all {PLURALS[domain]}", domain, None) for domain in domains]
    first = len(blocks) if places else 1  # every place the request names comes first
    groups = [
        *(g for b in blocks[:first] for g in b),
        *home,
        *(g for b in blocks[first:] for g in b),
    ]
    unique = {g.label: g for g in groups}
    return list(unique.values())[:MAX_GROUPS]
