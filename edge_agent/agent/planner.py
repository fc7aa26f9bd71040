"""Text -> candidates -> intent (constrained model) -> commands -> policy -> messages.

Pure logic over small interfaces: the model is anything with ``complete_json`` (an
onnxruntime bundle in production, a scripted fake in tests) and the registry renders
native messages. Nothing is published here; the caller publishes ``Response.actions``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from edge_agent.agent import prompt
from edge_agent.agent.intent import (
    INTENT_ACTIONS,
    NONE,
    QUERY,
    Intent,
    IntentGrammar,
    TargetChoice,
    ValueSpec,
)
from edge_agent.agent.policy import Policy
from edge_agent.agent.replies import command_reply, state_reply
from edge_agent.agent.retrieval import retrieve
from edge_agent.agent.spelling import Speller, home_words
from edge_agent.agent.targets import Group, groups_for
from edge_agent.devices.adapter import DeviceCommand, RenderError
from edge_agent.devices.model import VALUE_ACTIONS, Entity
from edge_agent.devices.registry import Registry
from edge_agent.devices.values import COLOR_OPTIONS
from edge_agent.messages import ActionTaken, ErrorInfo, Request, Response

log = logging.getLogger(__name__)

MAX_REQUEST_CHARS = 500
_YES = re.compile(r"^\s*(yes|yeah|yep|confirm(ed)?|do it|go ahead|ok(ay)?|sure)\b", re.I)
_NO = re.compile(r"^\s*(no|nope|cancel|stop|don'?t|never ?mind)\b", re.I)


class Shortcut(Protocol):
    """An intent found without the model, with the devices and groups it names."""

    @property
    def intent(self) -> Intent: ...

    @property
    def candidates(self) -> list[Entity]: ...

    @property
    def groups(self) -> list[Group]: ...


class IntentModel(Protocol):
    def complete_json(self, prefix: str, request: str, grammar: str) -> str:
        """JSON text matching ``grammar`` (llguidance Lark), continuing ``prefix + request``."""


@dataclass(frozen=True)
class Prepared:
    candidates: list[Entity]
    groups: list[Group]
    grammar: IntentGrammar
    request: str
    """The request part of the prompt."""
    text: str
    """The request's words as the model sees them (spelling mended)."""


@dataclass
class _Pending:
    commands: list[tuple[Entity, DeviceCommand]]
    expires: float


def no_target_probability(model: IntentModel) -> float | None:
    """How likely the model found an empty target list at its first choice (the answer
    starts with the targets), or None when that cannot be read: a model without
    ``first_choice``, a first choice elsewhere, or a tokenizer that writes the list's
    opening bracket alone whether or not a name follows."""
    first_choice = getattr(model, "first_choice", None)
    if not callable(first_choice):
        return None
    choice: dict[str, float] = first_choice()
    if not choice or not all(text.startswith("[") for text in choice):
        return None
    named = [p for text, p in choice.items() if text.startswith('["')]
    if not named:
        return None
    return sum(p for text, p in choice.items() if not text.startswith('["'))


class Planner:
    def __init__(
        self,
        model: IntentModel,
        registry: Registry,
        policy: Policy,
        *,
        candidates: int = 8,
        clock: Callable[[], float] = time.monotonic,
        prompt_style: prompt.PromptStyle = "few-shot",
        spoken: Callable[[str, str | None], Shortcut | None] | None = None,
        none_threshold: float | None = None,
    ) -> None:
        self.model = model
        self.registry = registry
        self.policy = policy
        self.k = candidates
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self.prefix = prompt.prefix(prompt_style)
        self.spoken = spoken
        """Reads requests from a voice satellite's grammar recognizer without the model."""
        self.none_threshold = none_threshold
        """Answer "none" when the model gave at least this probability to naming no device,
        even if it named one: doing nothing is the safer mistake (calibrated on held-out
        generated data, not on the hand-written set)."""
        self.last_doubt: float | None = None
        """For the last intent that named devices: the probability of naming none."""
        self._speller: tuple[int, Speller] | None = None
        """The home's speller and the registry version it was built for."""

    def handle(self, request: Request) -> Response:
        try:
            response = self._handle(request)
        except Exception as error:  # a request must never take the agent down
            log.exception("request %s failed", request.id)
            response = _error("internal", f"something went wrong: {error}")
        response.id = request.id
        return response

    def _handle(self, request: Request) -> Response:
        text = request.text.strip()
        if not text:
            return _error("empty", "The request is empty.")
        if len(text) > MAX_REQUEST_CHARS:
            return _error("too_long", f"The request is over {MAX_REQUEST_CHARS} characters.")
        source = request.context.source
        pending = self._pending.pop(source, None)
        if pending is not None and pending.expires >= self._clock():
            if _YES.match(text):
                return self._execute(pending.commands, confirmed=True)
            if _NO.match(text):
                return Response(status="ok", text="Cancelled.")
        if not self.registry.entities():
            return _error("no_devices", "I don't know any devices yet.")
        started = time.perf_counter()
        if self.spoken is not None and source.startswith("voice"):
            shortcut = self.spoken(text, request.context.area)
            if shortcut is not None:
                response = self._act(shortcut.intent, shortcut.candidates, shortcut.groups, source)
                response.timings_ms["spoken"] = round((time.perf_counter() - started) * 1000, 1)
                return response
        prepared = self.prepare(text, request.context.area)
        planned = time.perf_counter()
        intent = self._decide(prepared)
        decided = time.perf_counter()
        if intent is None:
            response = _error("no_intent", "I couldn't work out what to do; please rephrase.")
        else:
            response = self._act(intent, prepared.candidates, prepared.groups, source)
        response.timings_ms.update(retrieval=round((planned - started) * 1000, 1),
                                   model=round((decided - planned) * 1000, 1))  # fmt: skip
        return response

    def prepare(self, text: str, here: str | None) -> Prepared:
        """Everything the model is shown and allowed for ``text``; no model call."""
        everyone = self.registry.entities()
        text = self._speller_now(everyone).fix(text)
        found = retrieve(text, everyone, k=self.k, context_area=here)
        groups = groups_for(found.entities, found.mentioned_areas, everyone, here)
        choices = [TargetChoice(e.name, offered_actions([e])) for e in found.entities]
        offered = []
        for group in groups:
            members = [e for e in everyone if group.contains(e)]
            if members:
                choices.append(TargetChoice(group.label, offered_actions(members)))
                offered.append(group)
        labels = [g.label for g in offered]
        request = prompt.request(found.entities, labels, here, text)
        return Prepared(found.entities, offered, IntentGrammar(choices), request, text)

    def _speller_now(self, entities: list[Entity]) -> Speller:
        """The speller of the home as it is now (rebuilt when its names change)."""
        if self._speller is None or self._speller[0] != self.registry.version:
            speller = Speller(home_words(entities), getattr(self.model, "is_word", None))
            self._speller = (self.registry.version, speller)
        return self._speller[1]

    def _decide(self, prepared: Prepared) -> Intent | None:
        self.last_doubt = None
        raw = self.model.complete_json(self.prefix, prepared.request, prepared.grammar.lark())
        try:
            intent = Intent.model_validate(json.loads(raw))
        except ValueError:  # the model ran out of tokens before the JSON closed
            log.warning("no complete intent from the model: %r", raw)
            return None
        if not prepared.grammar.allows(intent):
            log.warning("the model's intent is outside its grammar: %r", raw)
            return None
        self.last_doubt = no_target_probability(self.model) if intent.targets else None
        doubt, threshold = self.last_doubt, self.none_threshold
        if doubt is not None and threshold is not None and doubt >= threshold:
            log.info("%.0f %% for no device: none instead of %s", 100 * doubt, raw)
            return Intent(targets=[], action=NONE, value=None)
        return intent

    def _act(
        self, intent: Intent, candidates: list[Entity], groups: list[Group], source: str
    ) -> Response:
        meta = intent.model_dump()
        if intent.action == NONE or not intent.targets:
            return Response(
                status="ok", intent=meta,
                text="Sorry, I can only control and report on the devices in this home, "
                     "and I couldn't match that to one of them.",
            )  # fmt: skip
        entities = self._resolve(intent.targets, candidates, groups)
        if intent.action == QUERY:
            now = datetime.now(UTC)
            replies = [state_reply(e, now) for e in entities[:4]]
            return Response(status="ok", text=" ".join(replies), intent=meta,
                            about=[e.id for e in entities])  # fmt: skip
        action = INTENT_ACTIONS[intent.action]
        explicit = len(intent.targets) == 1 and len(entities) == 1
        able = [e for e in entities if e.supports(action)]
        if not able:
            names = ", ".join(e.name for e in entities)
            return _error("unsupported", f"{names} can't do that.", meta)
        if action in VALUE_ACTIONS and not isinstance(intent.value, (int, float)):
            return Response(status="clarify", text="To what value?", intent=meta)
        commands = [(e, DeviceCommand(e.id, action, _value(intent.value))) for e in able]
        allowed: list[tuple[Entity, DeviceCommand, str]] = []
        confirm: list[tuple[Entity, DeviceCommand, str]] = []
        refused: list[tuple[Entity, DeviceCommand, str]] = []
        for entity, command in commands:
            decision = self.policy.check(entity, command)
            target = {"allow": allowed, "confirm": confirm, "deny": refused}[decision.verdict]
            target.append((entity, decision.command, decision.reason))
        if refused and (explicit or (not allowed and not confirm)):
            return _error("refused", refused[0][2] + ".", meta)
        if confirm:
            self._pending[source] = _Pending(
                [(e, c) for e, c, _ in [*allowed, *confirm]],
                self._clock() + self.policy.config.confirm_timeout_s,
            )
            names = " and ".join(f"the {e.name}" for e, _, _ in confirm)
            verb = confirm[0][1].action.replace("_", " ")
            return Response(status="confirm", text=f"Do you want me to {verb} {names}?",
                            intent=meta)  # fmt: skip
        response = self._execute([(e, c) for e, c, _ in allowed])
        response.intent = meta
        return response

    def _resolve(
        self, targets: list[str], candidates: list[Entity], groups: list[Group]
    ) -> list[Entity]:
        by_name = {e.name: e for e in candidates}
        by_label = {g.label: g for g in groups}
        found: dict[str, Entity] = {}
        for target in targets:
            if target in by_name:
                found[by_name[target].id] = by_name[target]
            elif target in by_label:
                for entity in self.registry.entities():
                    if by_label[target].contains(entity):
                        found[entity.id] = entity
        return list(found.values())

    def _execute(
        self, commands: list[tuple[Entity, DeviceCommand]], confirmed: bool = False
    ) -> Response:
        actions: list[ActionTaken] = []
        done: list[tuple[Entity, DeviceCommand]] = []
        problems: list[str] = []
        for entity, command in commands:
            if not self.policy.take_rate_slot(entity.id):
                problems.append(f"the {entity.name} got too many commands, wait a little")
                continue
            try:
                messages = self.registry.render(command)
            except RenderError as error:
                problems.append(str(error))
                continue
            done.append((entity, command))
            actions += [
                ActionTaken(device=entity.name, action=command.action, topic=m.topic,
                            payload=m.payload, entity_id=entity.id, value=command.value)
                for m in messages
            ]  # fmt: skip
        if not done:
            return _error("not_done", "; ".join(problems).capitalize() + ".")
        text = command_reply(done)
        if problems:
            text += " But " + "; ".join(problems) + "."
        return Response(status="ok", text=text, actions=actions)


def offered_actions(entities: list[Entity]) -> dict[str, ValueSpec]:
    """The intent words any of ``entities`` can do, with the values each takes."""
    actions: dict[str, ValueSpec] = {}
    for word, action in INTENT_ACTIONS.items():
        able = [e for e in entities if e.supports(action)]
        if not able:
            continue
        if action in VALUE_ACTIONS:
            ranges = [r for e in able if (r := e.ranges.get(action)) is not None]
            low = min([0, *(int(r.min) for r in ranges)])
            high = max([100, *(math.ceil(r.max) for r in ranges)])
            actions[word] = ValueSpec(low=low, high=high)
        elif action in ("set_color", "set_hvac_mode"):
            words = {w for e in able for w in e.options.get(action, ())}
            if action == "set_color" and not words:
                words = set(COLOR_OPTIONS)
            actions[word] = ValueSpec(words=tuple(sorted(words)))
        else:
            actions[word] = ValueSpec()
    actions[QUERY] = ValueSpec()
    return actions


def _value(value: float | str | None) -> float | str | None:
    return float(value) if isinstance(value, int) else value


def _error(code: str, message: str, intent: dict[str, Any] | None = None) -> Response:
    return Response(status="error", text=message, error=ErrorInfo(code=code, message=message),
                    intent=intent)  # fmt: skip
