"""Synthetic request sets for the planner: generated homes, requests and the exact commands.

``edge-agent-export dataset --out DIR`` writes ``train.json``, ``validation.json`` and
``test.json`` (the :class:`~edge_agent.agent.evalset.EvalSet` format, each named after its
split) and ``stats.json``. Sets are generated, never committed: the same flags and seed give
byte-identical files. Pure Python and :mod:`random`; no network, no torch.

Homes
    ``home-0001`` ... ``home-NNNN``: flats and houses of one to three floors (named floors such
    as "Upstairs" or "Ground Floor"), dozens of room names including unusual ones, devices of
    every domain named in several styles ("Kitchen Ceiling Light", "Desk Lamp", "Mia's Lamp",
    zigbee2mqtt-like ``kitchen_ceiling``, brand-like "Shelly Plug 2"), some with aliases. Every
    device has a command (topic, payload, ``{value}`` for value actions) per action it
    supports, a range per value action, options for colours and HVAC modes, a state topic.
    Names, aliases and spoken references are unique per home: no name is a word-for-word part
    of another, and a name is never used in a request where it could also describe another
    device ("the kitchen light" while the kitchen has two lights).

Requests
    Template families (:data:`FAMILIES`), each a phrasing of one skill: direct, polite, terse,
    casual, word order, indirect ("it's too dark in the study"), "in here" (the case's
    ``area`` is the satellite's area), several devices, groups (area, floor, whole home,
    "everything in X"), values (numbers as digits or words), state questions (kind
    ``query``), out-of-scope requests and devices or rooms the home does not have (kind
    ``none``). Any request naming a device or a place may get typos (a swapped, dropped or
    doubled letter in a device or place word); its ``family`` then ends in ``+typo``.
    ``intent`` is the planner's answer (:mod:`edge_agent.agent.intent`), keys in the order
    its grammar writes them: targets (device names or the exact group labels of
    :mod:`edge_agent.agent.targets`; ``[]`` for none), an action word every target can do,
    and the value (numbers as whole numbers, colours and modes as option words, else null).
    ``expect`` is what the planner does with that intent: every named device, and every
    device of a named group, that supports the action, with the value. Values always lie
    inside every such device's range or options.

Splits (what they measure)
    Homes: a seeded permutation of the home ids; the first 80 % are train homes, the next
    10 % validation homes and the rest test homes (at least one each). Validation and test
    homes also draw from reserved vocabulary (room names, people, brands, scene names) that
    train homes never use, so a model must copy names from the candidate list rather than
    remember them.
    Families: each family is fixed in code as ``train`` or ``heldout``; every skill has
    families on both sides, so held-out families are new phrasings of known skills.
    ``train`` = train homes x train families; ``validation`` = validation homes x held-out
    families; ``test`` = test homes x held-out families. Validation and test share phrasing
    families (validation predicts test) but no homes; train shares neither homes nor
    families with them.
    Cases per family follow the family weights (largest remainder), homes are drawn at
    random among the split's homes that suit the family, and no text repeats in a home.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from edge_agent.agent.evalset import Case, EvalSet, ExpectedCommand
from edge_agent.agent.intent import INTENT_ACTIONS, MAX_TARGETS, NONE, QUERY
from edge_agent.agent.retrieval import PLURALS, normalize
from edge_agent.devices.model import VALUE_ACTIONS, Action, Domain, Range
from edge_agent.devices.static import StaticCommand, StaticDevice
from edge_agent.devices.values import COLOR_OPTIONS

Split = Literal["train", "validation", "test"]
Kind = Literal["command", "query", "none"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
HOME_FRACTIONS = (0.8, 0.1)
"""Train and validation shares of the homes; test gets the rest."""
TYPO_RATE = 0.15
CONTEXT_AREA_RATE = 0.3
"""How often a case that does not say "in here" still carries a satellite area."""
ACTIONABLE: tuple[Domain, ...] = ("light", "switch", "fan", "cover", "lock", "valve", "climate")
WORD_OF: dict[Action, str] = {action: word for word, action in INTENT_ACTIONS.items()}
WINDOW_COVERS = frozenset({"blind", "shade", "curtain", "shutter"})

T = TypeVar("T")


class UnsuitableError(Exception):
    """This family cannot make a request in this home (or not this time)."""


# -- vocabulary ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Thing:
    label: str
    domain: Domain
    nouns: tuple[str, ...]
    """How a request describes it with its area ("the kitchen light", "the study lamp")."""
    device_class: str | None = None
    sub: str = ""
    """A finer kind for features: lamp, heating, ac, sprinkler, water ..."""
    personal: bool = False
    """Can be someone's ("Mia's Lamp")."""
    alone: bool = True
    """Can be named by its label alone ("Desk Lamp"); not "Temperature"."""


def _things() -> dict[str, Thing]:
    t = Thing
    items = [
        t("Ceiling Light", "light", ("light", "ceiling light")),
        t("Floor Lamp", "light", ("lamp", "floor lamp", "light"), personal=True),
        t("Desk Lamp", "light", ("lamp", "desk lamp", "light"), personal=True),
        t("Bedside Lamp", "light", ("lamp", "bedside lamp", "light"), personal=True),
        t("Table Lamp", "light", ("lamp", "table lamp", "light")),
        t("Pendant Light", "light", ("light", "pendant")),
        t("Light Strip", "light", ("light strip", "light")),
        t("LED Strip", "light", ("led strip", "light")),
        t("Chandelier", "light", ("chandelier", "light")),
        t("Wall Light", "light", ("wall light", "light")),
        t("Reading Light", "light", ("reading light", "light"), personal=True),
        t("Night Light", "light", ("night light", "light"), personal=True),
        t("Spotlights", "light", ("spotlights", "light")),
        t("Downlights", "light", ("downlights", "light")),
        t("Porch Light", "light", ("porch light", "light")),
        t("String Lights", "light", ("string lights", "light")),
        t("Lantern", "light", ("lantern", "light")),
        t("Vanity Light", "light", ("vanity light", "light")),
        t("Mirror Light", "light", ("mirror light", "light")),
        t("Cabinet Lights", "light", ("cabinet lights", "light")),
        t("Path Lights", "light", ("path lights", "light")),
        t("Floodlight", "light", ("floodlight", "light")),
        t("Grow Light", "light", ("grow light", "light")),
        t("Accent Light", "light", ("accent light", "light")),
        t("Smart Plug", "switch", ("plug", "smart plug"), "outlet"),
        t("Outlet", "switch", ("outlet", "plug"), "outlet"),
        t("Kettle", "switch", ("kettle",), "outlet"),
        t("Coffee Maker", "switch", ("coffee maker",), "outlet"),
        t("Christmas Tree", "switch", ("christmas tree",), "outlet"),
        t("Fountain", "switch", ("fountain",), "switch"),
        t("Pond Pump", "switch", ("pond pump", "pump"), "switch"),
        t("Humidifier", "switch", ("humidifier",), "outlet"),
        t("Dehumidifier", "switch", ("dehumidifier",), "outlet"),
        t("Printer", "switch", ("printer",), "outlet"),
        t("Towel Rail", "switch", ("towel rail",), "switch"),
        t("Monitor", "switch", ("monitor",), "outlet", personal=True),
        t("Fish Tank", "switch", ("fish tank",), "outlet"),
        t("Sound Machine", "switch", ("sound machine",), "outlet", personal=True),
        t("Laptop Charger", "switch", ("laptop charger", "charger"), "outlet", personal=True),
        t("Ceiling Fan", "fan", ("fan", "ceiling fan")),
        t("Desk Fan", "fan", ("fan", "desk fan"), personal=True),
        t("Tower Fan", "fan", ("fan", "tower fan")),
        t("Pedestal Fan", "fan", ("fan", "pedestal fan")),
        t("Fan", "fan", ("fan",), personal=True),
        t("Extractor Fan", "fan", ("fan", "extractor fan", "extractor")),
        t("Exhaust Fan", "fan", ("fan", "exhaust fan")),
        t("Blinds", "cover", ("blinds",), "blind"),
        t("Roller Blind", "cover", ("blind", "roller blind", "blinds"), "blind"),
        t("Venetian Blinds", "cover", ("blinds", "venetian blinds"), "blind"),
        t("Shades", "cover", ("shades",), "shade"),
        t("Roman Shade", "cover", ("shade", "roman shade", "shades"), "shade"),
        t("Curtains", "cover", ("curtains",), "curtain"),
        t("Drapes", "cover", ("drapes", "curtains"), "curtain"),
        t("Shutters", "cover", ("shutters",), "shutter"),
        t("Awning", "cover", ("awning",), "awning"),
        t("Garage Door", "cover", ("garage door",), "garage"),
        t("Gate", "cover", ("gate",), "gate"),
        t("Driveway Gate", "cover", ("gate", "driveway gate"), "gate"),
        t("Skylight", "cover", ("skylight",), "window"),
        t("Front Door Lock", "lock", ("lock", "front door")),
        t("Back Door Lock", "lock", ("lock", "back door")),
        t("Side Door Lock", "lock", ("lock", "side door")),
        t("Patio Door Lock", "lock", ("lock", "patio door")),
        t("Deadbolt", "lock", ("deadbolt", "lock")),
        t("Smart Lock", "lock", ("lock", "smart lock")),
        t("Gate Lock", "lock", ("lock", "gate lock")),
        t("Water Valve", "valve", ("valve", "water valve"), "water", sub="water"),
        t("Main Water Valve", "valve", ("valve", "water valve"), "water", sub="water"),
        t("Sprinkler", "valve", ("sprinkler",), "water", sub="sprinkler"),
        t("Sprinklers", "valve", ("sprinklers",), "water", sub="sprinkler"),
        t("Irrigation Valve", "valve", ("irrigation", "valve"), "water", sub="sprinkler"),
        t("Garden Tap", "valve", ("tap",), "water", sub="sprinkler"),
        t("Drip Line", "valve", ("drip line",), "water", sub="sprinkler"),
        t("Thermostat", "climate", ("thermostat", "heating"), sub="thermostat"),
        t("Heating", "climate", ("heating",), sub="heating"),
        t("Radiator", "climate", ("radiator", "heating"), sub="heating"),
        t("Underfloor Heating", "climate", ("underfloor heating", "heating"), sub="heating"),
        t("AC", "climate", ("AC", "air conditioning"), sub="ac"),
        t("Air Conditioner", "climate", ("air conditioner", "AC"), sub="ac"),
        t("Mini Split", "climate", ("mini split", "AC"), sub="ac"),
        t("Heat Pump", "climate", ("heat pump",), sub="heatpump"),
        t("Temperature", "sensor", ("temperature",), "temperature", alone=False),
        t("Temperature Sensor", "sensor", ("temperature sensor",), "temperature"),
        t("Thermometer", "sensor", ("thermometer",), "temperature"),
        t("Humidity", "sensor", ("humidity",), "humidity", alone=False),
        t("Humidity Sensor", "sensor", ("humidity sensor",), "humidity"),
        t("Power Meter", "sensor", ("power meter",), "power"),
        t("Energy Meter", "sensor", ("energy meter",), "energy"),
        t("Air Quality", "sensor", ("air quality",), "carbon_dioxide", alone=False),
        t("Soil Moisture", "sensor", ("soil moisture",), "moisture", alone=False),
        t("Door Sensor", "binary_sensor", ("door sensor",), "door"),
        t("Window Sensor", "binary_sensor", ("window sensor", "window"), "window"),
        t("Motion Sensor", "binary_sensor", ("motion sensor",), "motion"),
        t("Leak Sensor", "binary_sensor", ("leak sensor",), "moisture"),
        t("Presence Sensor", "binary_sensor", ("presence sensor",), "occupancy"),
        t("Smoke Alarm", "binary_sensor", ("smoke alarm",), "smoke"),
        t("Chime", "button", ("chime",)),
        t("Router Restart", "button", ("router restart",)),
        t("Cat Feeder", "button", ("cat feeder",)),
        t("Fish Feeder", "button", ("fish feeder",)),
    ]
    return {thing.label: thing for thing in items}


THINGS = _things()
SCENE = Thing("", "scene", ("scene",))

_LIVING_LIGHTS = ("Ceiling Light", "Floor Lamp", "Table Lamp", "Light Strip", "Chandelier",
                  "Spotlights", "Downlights", "Wall Light", "Reading Light", "Accent Light",
                  "Pendant Light", "LED Strip")  # fmt: skip
_BED_LIGHTS = ("Ceiling Light", "Bedside Lamp", "Night Light", "Reading Light", "Floor Lamp",
               "Light Strip")  # fmt: skip
_KITCHEN_LIGHTS = ("Ceiling Light", "Pendant Light", "Cabinet Lights", "Spotlights",
                   "Downlights", "LED Strip")  # fmt: skip
_WINDOWS = ("Blinds", "Roller Blind", "Venetian Blinds", "Shades", "Roman Shade", "Curtains",
            "Drapes", "Shutters")  # fmt: skip
_ROOM_FANS = ("Ceiling Fan", "Tower Fan", "Pedestal Fan", "Desk Fan", "Fan")
_ROOM_CLIMATE = ("Thermostat", "AC", "Radiator", "Heat Pump", "Mini Split", "Air Conditioner",
                 "Heating")  # fmt: skip
_ROOM_SENSORS = ("Temperature", "Temperature Sensor", "Thermometer", "Humidity",
                 "Humidity Sensor")  # fmt: skip
_GARDEN_VALVES = ("Sprinkler", "Sprinklers", "Irrigation Valve", "Garden Tap", "Drip Line")

Slot = tuple[float, int, int, tuple[str, ...]]
"""Probability that an area has any, how many (min, max), and which things."""
SLOTS: dict[str, tuple[Slot, ...]] = {
    "living": (
        (1.0, 1, 3, _LIVING_LIGHTS), (0.5, 1, 1, _WINDOWS), (0.25, 1, 1, _ROOM_FANS),
        (0.35, 1, 2, ("Smart Plug", "Christmas Tree", "Humidifier", "Fish Tank", "Outlet")),
        (0.35, 1, 1, _ROOM_CLIMATE), (0.3, 1, 1, _ROOM_SENSORS),
        (0.25, 1, 1, ("Motion Sensor", "Window Sensor", "Presence Sensor")),
        (0.08, 1, 1, ("Fish Feeder",)),
    ),
    "bedroom": (
        (1.0, 1, 2, _BED_LIGHTS), (0.5, 1, 1, _WINDOWS), (0.35, 1, 1, _ROOM_FANS),
        (0.25, 1, 1, ("Smart Plug", "Humidifier", "Sound Machine", "Laptop Charger")),
        (0.35, 1, 1, _ROOM_CLIMATE), (0.3, 1, 1, _ROOM_SENSORS),
        (0.15, 1, 1, ("Window Sensor", "Motion Sensor")),
    ),
    "kitchen": (
        (1.0, 1, 3, _KITCHEN_LIGHTS),
        (0.55, 1, 2, ("Kettle", "Coffee Maker", "Smart Plug", "Outlet")),
        (0.35, 1, 1, ("Extractor Fan",)), (0.3, 1, 1, ("Temperature", "Thermometer")),
        (0.35, 1, 1, ("Leak Sensor",)), (0.2, 1, 1, ("Water Valve",)), (0.25, 1, 1, _WINDOWS),
        (0.1, 1, 1, ("Smoke Alarm",)), (0.15, 1, 1, ("Thermostat", "Radiator")),
    ),
    "bath": (
        (1.0, 1, 2, ("Ceiling Light", "Mirror Light", "Vanity Light", "Downlights")),
        (0.5, 1, 1, ("Extractor Fan", "Exhaust Fan")), (0.3, 1, 1, ("Towel Rail",)),
        (0.3, 1, 1, ("Leak Sensor",)), (0.35, 1, 1, ("Humidity", "Humidity Sensor")),
        (0.3, 1, 1, ("Underfloor Heating", "Radiator")), (0.15, 1, 1, ("Shutters", "Roller Blind")),
    ),
    "hall": (
        (1.0, 1, 2, ("Ceiling Light", "Wall Light", "Downlights", "Pendant Light", "Night Light")),
        (0.45, 1, 1, ("Front Door Lock", "Deadbolt", "Smart Lock", "Back Door Lock")),
        (0.35, 1, 1, ("Door Sensor", "Motion Sensor")), (0.35, 1, 1, ("Thermostat",)),
        (0.25, 1, 1, ("Chime",)), (0.1, 1, 1, ("Smoke Alarm",)),
    ),
    "office": (
        (1.0, 1, 2, ("Desk Lamp", "Ceiling Light", "Floor Lamp", "Light Strip")),
        (0.5, 1, 2, ("Monitor", "Printer", "Smart Plug", "Laptop Charger")),
        (0.3, 1, 1, ("Desk Fan", "Tower Fan", "Fan")),
        (0.3, 1, 1, ("AC", "Air Conditioner", "Radiator", "Mini Split")),
        (0.3, 1, 1, ("Air Quality", "Temperature Sensor")), (0.3, 1, 1, _WINDOWS),
        (0.1, 1, 1, ("Router Restart",)),
    ),
    "utility": (
        (1.0, 1, 1, ("Ceiling Light", "Wall Light")), (0.4, 1, 1, ("Dehumidifier", "Smart Plug")),
        (0.4, 1, 1, ("Water Valve", "Main Water Valve")), (0.4, 1, 1, ("Leak Sensor",)),
        (0.3, 1, 1, ("Power Meter", "Energy Meter")), (0.15, 1, 1, ("Heat Pump",)),
    ),
    "outdoor": (
        (1.0, 1, 2, ("Porch Light", "Path Lights", "String Lights", "Floodlight", "Lantern",
                     "Wall Light", "Grow Light")),
        (0.5, 1, 2, _GARDEN_VALVES), (0.25, 1, 1, ("Awning", "Gate", "Driveway Gate")),
        (0.15, 1, 1, ("Gate Lock", "Side Door Lock", "Patio Door Lock")),
        (0.2, 1, 1, ("Fountain", "Pond Pump")), (0.3, 1, 1, ("Motion Sensor",)),
        (0.2, 1, 1, ("Soil Moisture", "Temperature")),
    ),
    "garage": (
        (1.0, 1, 2, ("Ceiling Light", "Floodlight", "Wall Light")), (0.8, 1, 1, ("Garage Door",)),
        (0.2, 1, 1, ("Side Door Lock", "Smart Lock")), (0.3, 1, 1, ("Smart Plug", "Outlet")),
        (0.3, 1, 1, ("Door Sensor",)), (0.1, 1, 1, ("Cat Feeder",)),
    ),
    "hobby": (
        (1.0, 1, 2, ("Ceiling Light", "Spotlights", "Light Strip", "Desk Lamp")),
        (0.4, 1, 1, ("Ceiling Fan", "Tower Fan")), (0.3, 1, 1, ("Smart Plug", "Outlet")),
        (0.25, 1, 1, ("AC", "Radiator", "Skylight")), (0.25, 1, 1, _ROOM_SENSORS),
    ),
}  # fmt: skip

AREAS: dict[str, tuple[str, ...]] = {
    "living": ("Living Room", "Lounge", "Family Room", "Den", "Media Room", "Sitting Room",
               "Snug", "Conservatory", "Sunroom", "Dining Room", "Games Room", "Home Cinema",
               "Library", "Music Room"),
    "bedroom": ("Bedroom", "Master Bedroom", "Guest Room", "Nursery", "Kids Room", "Spare Room",
                "Attic Room"),
    "kitchen": ("Kitchen", "Kitchenette", "Galley"),
    "bath": ("Bathroom", "En Suite", "Powder Room", "Shower Room", "Half Bath", "Washroom"),
    "hall": ("Hallway", "Entryway", "Landing", "Foyer", "Stairwell", "Mudroom", "Corridor",
             "Vestibule"),
    "office": ("Office", "Study", "Studio", "Craft Room", "Server Closet", "Reading Nook",
               "Recording Studio", "Workroom"),
    "utility": ("Laundry Room", "Utility Room", "Boiler Room", "Cellar", "Wine Cellar",
                "Storage Room", "Boot Room", "Pantry"),
    "outdoor": ("Garden", "Patio", "Backyard", "Front Yard", "Terrace", "Balcony", "Deck",
                "Driveway", "Greenhouse", "Veranda", "Courtyard", "Porch"),
    "garage": ("Garage", "Carport", "Shed", "Bike Shed", "Pool House", "Workshop"),
    "hobby": ("Gym", "Yoga Room", "Playroom", "Hobby Room", "Sewing Room", "Darkroom"),
}  # fmt: skip
RESERVED_AREAS: dict[str, tuple[str, ...]] = {
    "living": ("Orangery", "Tea Room", "Gallery"),
    "bedroom": ("Bunk Room", "Cat Room"),
    "office": ("Pottery Studio", "Observatory"),
    "outdoor": ("Treehouse", "Rooftop"),
    "garage": ("Boathouse",),
    "hobby": ("Dojo", "Climbing Wall"),
}
ON_AREAS = frozenset({"Patio", "Terrace", "Balcony", "Deck", "Driveway", "Veranda", "Landing",
                      "Porch", "Rooftop"})  # fmt: skip

FLOOR_SETS: tuple[tuple[str, ...], ...] = (
    ("Ground Floor", "First Floor"), ("Downstairs", "Upstairs"), ("Main Floor", "Upper Floor"),
    ("Lower Level", "Main Level"), ("Basement", "Ground Floor", "First Floor"),
    ("Lower Level", "Main Level", "Upper Level"), ("Ground Floor", "First Floor", "Second Floor"),
    ("Downstairs", "Upstairs", "Attic"),
)  # fmt: skip
PERSONS = ("Mia", "Leo", "Emma", "Noah", "Olivia", "Liam", "Ava", "Lucas", "Sofia", "Ethan",
           "Zoe", "Max", "Hannah", "Omar", "Yuki", "Aisha", "Mateo", "Chloe", "Finn", "Nora",
           "Grace", "Sam")  # fmt: skip
RESERVED_PERSONS = ("Priya", "Tomasz", "Ines", "Kwame", "Freya", "Dmitri")
BRANDS: dict[str, tuple[str, ...]] = {
    "light": ("Hue Go", "Hue Bloom", "Hue Play", "Hue Iris", "Nanoleaf Shapes", "LIFX Mini",
              "Tradfri Bulb", "Govee Strip", "WiZ Bulb", "Yeelight"),
    "switch": ("Shelly Plug", "Shelly 1PM", "Sonoff Basic", "Tapo P100", "Meross Plug",
               "Kasa Plug", "Tasmota Plug"),
    "fan": ("Dyson Cool", "Vornado", "Xiaomi Fan"),
    "cover": ("Somfy Blind", "Fyrtur", "Shelly 2PM"),
    "cover curtain": ("Aqara Curtain", "Shelly 2PM", "SwitchBot Curtain"),
    "cover garage": ("Meross Opener", "Shelly 2PM", "Tailwind"),
    "cover gate": ("Shelly 1 Gate", "Sonoff Gate"),
    "cover awning": ("Somfy Awning",),
    "cover window": ("Velux Active",),
    "lock": ("Nuki", "Yale Linus", "August Lock", "Danalock"),
    "valve sprinkler": ("Rachio Zone", "Gardena Valve", "Hunter Zone"),
    "valve water": ("Sonoff Valve", "Moen Shutoff"),
    "climate thermostat": ("Nest", "Ecobee", "Tado", "Netatmo Thermostat"),
    "climate heating": ("Tado Valve", "Netatmo Valve"),
    "climate ac": ("Daikin", "Fujitsu Split"),
    "climate heatpump": ("Daikin Altherma", "Nibe"),
    "sensor temperature": ("Aqara Temp", "SwitchBot Meter", "Netatmo Indoor"),
    "sensor humidity": ("Aqara Humidity", "SwitchBot Hygrometer"),
    "sensor power": ("Shelly EM",), "sensor energy": ("Shelly 3EM",),
    "sensor carbon_dioxide": ("Netatmo Air",), "sensor moisture": ("Xiaomi Plant",),
    "binary_sensor door": ("Aqara Door", "Sonoff Door"),
    "binary_sensor window": ("Aqara Window",),
    "binary_sensor motion": ("Hue Motion", "Aqara Motion"),
    "binary_sensor moisture": ("Aqara Leak",),
    "binary_sensor occupancy": ("FP2 Presence",),
    "binary_sensor smoke": ("Nest Protect",),
    "button": ("Flic", "Aqara Button"),
}  # fmt: skip
"""Brand-like names per domain, or per domain and device class or kind ("cover garage")."""
RESERVED_BRANDS: dict[str, tuple[str, ...]] = {
    "light": ("Twinkly", "Lumi Bulb"), "switch": ("Eve Energy", "Nous A1"),
    "fan": ("Duux Whisper",), "lock": ("Level Bolt",), "valve sprinkler": ("Eve Aqua",),
    "climate thermostat": ("Honeywell T6",), "climate ac": ("Mitsubishi Split",),
    "sensor temperature": ("Eve Room",),
}  # fmt: skip


def _brands(thing: Thing, reserved: bool) -> list[str]:
    pools = [BRANDS] + ([RESERVED_BRANDS, RESERVED_BRANDS] if reserved else [])
    keys = [f"{thing.domain} {thing.sub or thing.device_class}", thing.domain]
    key = next((k for k in keys if k in BRANDS), "")
    return [brand for pool in pools for brand in pool.get(key, ())]


SCENES = ("Movie Night", "Good Morning", "Good Night", "Dinner Time", "Relax", "Reading Time",
          "Party", "Focus", "Away", "Romantic Dinner", "Cozy Evening", "Wake Up", "Cleaning",
          "Bedtime", "Gaming", "Breakfast", "Homework", "Lazy Sunday", "Concentrate",
          "Nap Time")  # fmt: skip
RESERVED_SCENES = ("Stargazing", "Date Night", "Yoga Flow", "Spa Evening")
UNKNOWN_THINGS = ("dishwasher", "washing machine", "tumble dryer", "robot vacuum", "TV",
                  "television", "oven", "microwave", "toaster", "blender", "hot tub",
                  "pool pump", "projector", "air purifier", "electric blanket", "massage chair",
                  "treadmill", "game console", "rice cooker", "sound bar", "record player",
                  "ice maker", "wine fridge", "chest freezer", "EV charger", "pool heater",
                  "sauna", "garage heater", "espresso machine", "baby monitor",
                  "security camera", "hair dryer", "bread maker", "aquarium heater")  # fmt: skip
BRIGHTNESS_RANGES = (Range(min=0, max=100, unit="%"), Range(min=1, max=100, unit="%"))
KELVIN_RANGES = (Range(min=2200, max=6500, step=100, unit="K"),
                 Range(min=2700, max=6500, step=100, unit="K"),
                 Range(min=2000, max=6500, step=100, unit="K"))  # fmt: skip
PERCENT = Range(min=0, max=100, unit="%")
HVAC_OPTIONS: dict[str, tuple[tuple[float, tuple[str, ...]], ...]] = {
    "thermostat": ((0.8, ("off", "heat")), (0.8, ("off", "heat", "cool", "auto")),
                   (0.8, ("off", "heat", "cool", "heat_cool"))),
    "heating": ((0.4, ("off", "heat")),),
    "ac": ((0.85, ("off", "cool", "dry", "fan_only", "auto")),
           (0.85, ("off", "cool", "heat", "dry", "fan_only", "auto"))),
    "heatpump": ((0.9, ("off", "heat", "cool", "auto", "dry")),),
}  # fmt: skip
MODE_WORDS: dict[str, tuple[str, ...]] = {
    "heat": ("heat", "heating"), "cool": ("cool", "cooling"), "auto": ("auto", "automatic"),
    "dry": ("dry", "dehumidify"), "fan_only": ("fan only", "fan-only"),
    "heat_cool": ("heat cool", "heat and cool"),
}  # fmt: skip


def _temperature_range(sub: str, fahrenheit: bool, rng: random.Random) -> Range:
    if fahrenheit:
        low, high = {"heating": (45, 86), "ac": (60, 86)}.get(sub, (50, 90))
        return Range(min=low, max=high, step=1, unit="°F")
    choices = {
        "heating": ((7, 30, 0.5), (5, 30, 0.5)),
        "ac": ((16, 30, 1.0), (16, 32, 1.0)),
        "heatpump": ((16, 30, 0.5), (10, 30, 0.5)),
    }.get(sub, ((7, 30, 0.5), (16, 32, 1.0), (10, 30, 0.5)))
    low, high, step = rng.choice(choices)
    return Range(min=low, max=high, step=step, unit="°C")


# -- homes --------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@cache
def _words(text: str) -> tuple[str, ...]:
    return tuple(normalize(text).split())


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """``inner`` is ``outer`` or a run of its words."""
    n = len(inner)
    return n > 0 and any(outer[i : i + n] == inner for i in range(len(outer) - n + 1))


@dataclass
class Dev:
    """A generated device: the static device written to the set, and how people say it."""

    device: StaticDevice
    thing: Thing
    style: str
    refs: list[tuple[str, str]]
    """(spoken text, "name" | "alias" | "extra"): ways a request may name it."""

    @property
    def name(self) -> str:
        return self.device.name

    @property
    def domain(self) -> Domain:
        return self.device.domain

    @property
    def area(self) -> str | None:
        return self.device.area

    @property
    def floor(self) -> str | None:
        return self.device.floor

    def supports(self, action: Action) -> bool:
        return action in self.device.commands


@dataclass
class Home:
    id: str
    split: Split
    flavor: str
    fahrenheit: bool
    areas: list[str] = field(default_factory=list)
    area_kind: dict[str, str] = field(default_factory=dict)
    area_floor: dict[str, str | None] = field(default_factory=dict)
    floors: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    devices: list[Dev] = field(default_factory=list)

    def static_devices(self) -> list[StaticDevice]:
        return [d.device for d in self.devices]

    def where(
        self, *, domain: Domain | None = None, action: Action | None = None,
        place: str | None = None,
    ) -> list[Dev]:  # fmt: skip
        return [
            d for d in self.devices
            if (domain is None or d.domain == domain)
            and (action is None or d.supports(action))
            and (place is None or place in (d.area, d.floor))
        ]  # fmt: skip

    def forms(self) -> list[tuple[str, ...]]:
        """Every name, alias and spoken reference, as word tuples."""
        return [_words(text) for d in self.devices for text, _ in d.refs]

    def conflicts(self, text: str) -> bool:
        """Would a new name collide with (be, contain, or be part of) an existing one?"""
        new = _words(text)
        if not new or any(new == _words(p) for p in [*self.areas, *self.floors]):
            return True
        return any(_contains(new, old) or _contains(old, new) for old in self.forms())

    def described_forms(self, dev: Dev) -> set[tuple[str, ...]]:
        forms: set[tuple[str, ...]] = set()
        for noun in dev.thing.nouns:
            forms.add(_words(noun))
            if dev.area:
                forms.add(_words(f"{dev.area} {noun}"))
        return forms

    def ambiguous(self, text: str, dev: Dev) -> bool:
        """Could ``text``, used as a name for ``dev``, also mean another device?"""
        words = _words(text)
        if any(words == _words(p) for p in [*self.areas, *self.floors]):
            return True
        for other in self.devices:
            if other is dev:
                continue
            if words in self.described_forms(other):
                return True
            if any(_contains(_words(r), words) for r, _ in other.refs):
                return True
        return False

    def unique_described(self, dev: Dev, noun: str) -> bool:
        """Is ``dev`` the only device "the <area> <noun>" can mean?"""
        if dev.area is None or noun not in dev.thing.nouns:
            return False
        phrase = _words(f"{dev.area} {noun}")
        for other in self.devices:
            if other is dev:
                continue
            if other.area == dev.area and (other.domain == dev.domain or noun in other.thing.nouns):
                return False
            if any(
                _contains(_words(r), phrase) or _words(r) == _words(noun) for r, _ in other.refs
            ):
                return False  # "the heating in the study" while another device is "Heating"
        return True


def _choose_areas(
    rng: random.Random, size: str, reserved: bool, persons: list[str]
) -> list[tuple[str, str]]:
    base, extras, most = {
        "flat": (["kitchen", "living", "bedroom", "bath"],
                 ["hall", "office", "bedroom", "outdoor", "utility"], 3),
        "house": (["kitchen", "living", "living", "bedroom", "bedroom", "bath", "hall", "outdoor",
                   "garage"],
                  ["office", "utility", "bedroom", "bath", "hobby", "outdoor", "living"], 3),
        "large": (["kitchen", "living", "living", "bedroom", "bedroom", "bedroom", "bath", "bath",
                   "hall", "hall", "outdoor", "outdoor", "garage", "office", "utility"],
                  ["office", "hobby", "hobby", "living", "bedroom", "utility", "outdoor"], 4),
    }[size]  # fmt: skip
    wanted = [*base, *rng.sample(extras, rng.randint(1, most))]
    chosen: list[tuple[str, str]] = []

    def free(name: str) -> bool:
        low = normalize(name)
        return all(low not in normalize(n) and normalize(n) not in low for n, _ in chosen)

    for kind in wanted:
        pool = list(AREAS[kind])
        if kind == "bedroom" and persons and rng.random() < 0.3:
            pool = [f"{p}'s Room" for p in persons]
        elif reserved and kind in RESERVED_AREAS and rng.random() < 0.4:
            pool = list(RESERVED_AREAS[kind])
        rng.shuffle(pool)
        for name in pool:
            if free(name):
                chosen.append((name, kind))
                break
    return chosen


_FLOOR_PREFERENCE: dict[str, tuple[str, ...]] = {
    "kitchen": ("main",), "living": ("main", "main", "lower", "upper"), "hall": ("main", "upper"),
    "bedroom": ("upper",), "bath": ("upper", "main"), "office": ("upper", "main", "lower"),
    "utility": ("lower", "main"), "hobby": ("lower", "upper"),
}  # fmt: skip


def _assign_floors(rng: random.Random, home: Home, floor_names: Sequence[str]) -> None:
    if not floor_names:
        home.area_floor = dict.fromkeys(home.areas)
        return
    levels = {"main": floor_names[-2] if len(floor_names) == 3 else floor_names[0],
              "upper": floor_names[-1],
              "lower": floor_names[0]}  # fmt: skip
    for area in home.areas:
        kind = home.area_kind[area]
        if kind in ("outdoor", "garage") or not floor_names:
            home.area_floor[area] = None
            continue
        home.area_floor[area] = levels[rng.choice(_FLOOR_PREFERENCE[kind])]
    indoor = [a for a in home.areas if home.area_floor[a] is not None]
    for floor in floor_names:  # every floor holds a room
        if floor not in home.area_floor.values() and indoor:
            counts = Counter(home.area_floor[a] for a in indoor)
            movable = [a for a in indoor if counts[home.area_floor[a]] > 1]
            if movable:
                home.area_floor[rng.choice(movable)] = floor
    home.floors = [f for f in floor_names if f in home.area_floor.values()]


STYLES: dict[str, dict[str, float]] = {
    "ha": {"area_thing": 0.6, "thing": 0.2, "possessive": 0.12, "brand": 0.08},
    "z2m": {"snake": 0.6, "area_thing": 0.2, "brand": 0.1, "thing": 0.1},
    "mixed": {"area_thing": 0.3, "thing": 0.25, "possessive": 0.1, "snake": 0.15, "brand": 0.2},
    "brand": {"brand": 0.45, "area_thing": 0.3, "thing": 0.15, "possessive": 0.1},
}


def _name_options(
    rng: random.Random, home: Home, thing: Thing, area: str, *, style: str, reserved: bool
) -> list[tuple[str, list[str]]]:
    """Candidate (name, aliases) for a thing in an area in one naming style."""
    label = thing.label
    repeats = _words(label)[0] in _words(area)  # "Patio Patio Door Lock", "garage_garage"
    in_area = label if repeats else f"{area} {label}"
    if style == "area_thing":
        return [] if repeats else [(f"{area} {label}", [])]
    if style == "thing" and thing.alone:
        return [(label, [in_area] if rng.random() < 0.15 and not repeats else [])]
    if style == "possessive" and thing.personal and home.persons:
        owner = next((p for p in home.persons if area.startswith(f"{p}'s")), None)
        person = owner or rng.choice(home.persons)
        short = f"{person}'s {thing.nouns[0].title()}"
        return [(f"{person}'s {label}", []), (short, [])]
    if style == "snake":
        first = label.split()[0]
        names = [] if repeats else [f"{slug(area)}_{slug(label)}"]
        if " " in label and not repeats:
            names.insert(rng.randint(0, 1), f"{slug(area)}_{slug(first)}")
        names.append(f"{slug(label)}_{rng.randint(1, 4)}")
        alias = [f"{area} {label}"] if rng.random() < 0.4 and not repeats else []
        return [(n, alias) for n in names]
    if style == "brand":
        pool = _brands(thing, reserved)
        if not pool:
            return []
        brand = rng.choice(pool)
        names = [f"{brand} {n}" for n in rng.sample(range(1, 6), 3)]
        names.insert(rng.randint(0, 3), brand)
        aliases: list[str] = []
        if rng.random() < 0.6:
            aliases = [rng.choice([label, in_area])] if thing.alone else [in_area]
        return [(n, aliases) for n in names]
    return []


def _commands(
    flavor: str, name: str, area: str | None, domain: Domain, actions: list[Action]
) -> tuple[dict[Action, StaticCommand], dict[str, Any]]:
    """Commands per action and the state settings, in the home's topic style."""
    s = slug(name)
    fixed = {"turn_on": "ON", "turn_off": "OFF", "toggle": "TOGGLE", "open": "OPEN",
             "close": "CLOSE", "stop": "STOP", "lock": "LOCK", "unlock": "UNLOCK",
             "activate": "ON"}  # fmt: skip
    state: dict[str, Any] = {}
    commands: dict[Action, StaticCommand] = {}
    if flavor == "z2m" and domain != "scene":
        keys = {"set_brightness": "brightness_percent", "set_color_temp": "color_temp_kelvin",
                "set_temperature": "occupied_heating_setpoint", "set_position": "position",
                "set_fan_percentage": "fan_speed_percent"}  # fmt: skip
        words = {"set_color": '{"color": {"name": "{value}"}}',
                 "set_hvac_mode": '{"system_mode": "{value}"}',
                 "activate": '{"action": "single"}'}  # fmt: skip
        for action in actions:
            if action in keys:
                payload = f'{{"{keys[action]}": {{value}}}}'
            else:
                payload = words.get(action, f'{{"state": "{fixed.get(action, "ON")}"}}')
            commands[action] = StaticCommand(topic=f"zigbee2mqtt/{s}/set", payload=payload)
        state = {"state_topic": f"zigbee2mqtt/{s}", "state_key": _state_key(domain)}
    elif flavor == "tasmota" and domain in ("light", "switch", "fan", "cover"):
        names = {"turn_on": ("POWER", "ON"), "turn_off": ("POWER", "OFF"),
                 "toggle": ("POWER", "TOGGLE"), "set_brightness": ("Dimmer", "{value}"),
                 "set_color_temp": ("CT", "{value}"), "set_color": ("Color", "{value}"),
                 "set_fan_percentage": ("FanSpeed", "{value}"), "open": ("ShutterOpen", "1"),
                 "close": ("ShutterClose", "1"), "stop": ("ShutterStop", "1"),
                 "set_position": ("ShutterPosition", "{value}")}  # fmt: skip
        for action in actions:
            command, payload = names[action]
            commands[action] = StaticCommand(topic=f"cmnd/{s}/{command}", payload=payload)
        state = {"state_topic": f"stat/{s}/POWER"}
    else:
        base = f"home/{slug(area or 'house')}/{s}"
        for action in actions:
            payload = fixed.get(action, "{value}")
            commands[action] = StaticCommand(topic=f"{base}/{action}", payload=payload)
        state = {"state_topic": f"{base}/state"}
    on_off = {"lock": ("LOCKED", "UNLOCKED"), "cover": ("open", "closed"),
              "valve": ("open", "closed")}.get(domain)  # fmt: skip
    if on_off and flavor != "tasmota":
        state["state_on"], state["state_off"] = on_off
    if domain == "binary_sensor":
        state["state_on"], state["state_off"] = ("true", "false")
    return commands, state


def _state_key(domain: Domain) -> str:
    return {"climate": "local_temperature", "sensor": "value", "binary_sensor": "value",
            "cover": "state", "scene": "state"}.get(domain, "state")  # fmt: skip


Features = tuple[list[Action], dict[Action, Range], dict[Action, list[str]]]


def _light_features(rng: random.Random, features: Features) -> None:
    actions, ranges, options = features
    if rng.random() >= 0.8:
        return
    actions.append("set_brightness")
    ranges["set_brightness"] = rng.choice(BRIGHTNESS_RANGES)
    if rng.random() < 0.45:
        actions.append("set_color_temp")
        ranges["set_color_temp"] = rng.choice(KELVIN_RANGES)
    if rng.random() < 0.35:
        actions.append("set_color")
        if rng.random() < 0.7:
            options["set_color"] = list(COLOR_OPTIONS)
        else:
            others = [c for c in COLOR_OPTIONS if c != "white"]
            options["set_color"] = ["white", *rng.sample(others, rng.randint(4, 7))]


def _cover_features(rng: random.Random, thing: Thing, features: Features) -> None:
    actions, ranges, _ = features
    actions += ["open", "close"]
    if rng.random() < (0.75 if thing.device_class in WINDOW_COVERS else 0.45):
        actions.append("stop")
    if rng.random() < (0.75 if thing.device_class not in ("garage", "gate") else 0.15):
        actions.append("set_position")
        ranges["set_position"] = PERCENT


def _climate_features(
    rng: random.Random, thing: Thing, fahrenheit: bool, features: Features
) -> None:
    actions, ranges, options = features
    actions.append("set_temperature")
    ranges["set_temperature"] = _temperature_range(thing.sub, fahrenheit, rng)
    if rng.random() < 0.85:
        actions.append("turn_off")
    if rng.random() < 0.4:
        actions.append("turn_on")
    chance, modes = rng.choice(HVAC_OPTIONS[thing.sub])
    if rng.random() < chance:
        actions.append("set_hvac_mode")
        options["set_hvac_mode"] = list(modes)


def _features(rng: random.Random, thing: Thing, fahrenheit: bool) -> Features:
    """The actions a new device supports, with its ranges and options."""
    features: Features = ([], {}, {})
    actions, ranges, _ = features
    domain = thing.domain
    if domain in ("light", "switch", "fan"):
        actions += ["turn_on", "turn_off"]
        if rng.random() < 0.7:
            actions.append("toggle")
    if domain == "light":
        _light_features(rng, features)
    elif domain == "fan" and rng.random() < 0.75:
        actions.append("set_fan_percentage")
        ranges["set_fan_percentage"] = PERCENT
    elif domain == "cover":
        _cover_features(rng, thing, features)
    elif domain == "climate":
        _climate_features(rng, thing, fahrenheit, features)
    else:
        extra: dict[str, list[Action]] = {
            "lock": ["lock", "unlock"], "valve": ["open", "close"], "button": ["activate"],
            "scene": ["activate"],
        }  # fmt: skip
        actions += extra.get(domain, [])
    return features


def _add_device(
    rng: random.Random, home: Home, thing: Thing, area: str | None, *,
    style_weights: dict[str, float], reserved: bool, scene_name: str | None = None,
) -> Dev | None:  # fmt: skip
    options: list[tuple[str, list[str]]] = []
    if scene_name is not None:
        options = [(scene_name, [])]
        style = "scene"
    else:
        assert area is not None
        styles = list(style_weights)
        order = sorted(styles, key=lambda s: rng.random() ** (1.0 / style_weights[s]), reverse=True)
        style = "area_thing"
        for style in order:
            made = _name_options(rng, home, thing, area, style=style, reserved=reserved)
            options = [o for o in made if not home.conflicts(o[0])]
            if options:
                break
        if not options:
            style = "area_thing"
            options = [(f"{area} {thing.label} {n}", []) for n in range(2, 6)]
            options = [o for o in options if not home.conflicts(o[0])]
    if not options:
        return None
    name, aliases = options[0]
    aliases = [a for a in aliases if not home.conflicts(a) and _words(a) != _words(name)]
    actions, ranges, option_words = _features(rng, thing, home.fahrenheit)
    commands, state = _commands(home.flavor, name, area, thing.domain, actions)
    if thing.domain == "sensor" and home.flavor == "z2m":
        state["state_key"] = thing.device_class or "value"
    device = StaticDevice(
        id=slug(name), name=name, aliases=aliases, area=area,
        floor=home.area_floor.get(area) if area else None, domain=thing.domain,
        device_class=thing.device_class, commands=commands, ranges=ranges,
        options=option_words, **state,
    )  # fmt: skip
    spoken = name.replace("_", " ") if style == "snake" else name
    refs = [(spoken, "name"), *[(a, "alias") for a in aliases]]
    if thing.domain == "lock" and thing.label.endswith("Door Lock") and style != "brand":
        door = name.removesuffix(" Lock").replace("_lock", "").replace("_", " ")
        if _words(door) != _words(spoken) and not home.conflicts(door):
            refs.append((door, "extra"))
    dev = Dev(device, thing, style, refs)
    home.devices.append(dev)
    return dev


def make_home(home_id: str, split: Split, seed: int) -> Home:
    """One random home; ``split`` != "train" also draws from the reserved vocabulary."""
    rng = random.Random(f"{seed}:home:{home_id}")
    reserved = split != "train"
    size = rng.choices(["flat", "house", "large"], [0.3, 0.45, 0.25])[0]
    home = Home(
        id=home_id, split=split, flavor=rng.choice(["z2m", "tasmota", "plain"]),
        fahrenheit=rng.random() < 0.15,
    )  # fmt: skip
    people = list(PERSONS) + (list(RESERVED_PERSONS) * 2 if reserved else [])
    home.persons = list(dict.fromkeys(rng.sample(people, rng.randint(1, 3))))
    for name, kind in _choose_areas(rng, size, reserved, home.persons):
        home.areas.append(name)
        home.area_kind[name] = kind
    floors = (
        1 if size == "flat" else rng.choice([1, 2, 2]) if size == "house" else rng.choice([2, 3])
    )
    candidates = [f for f in FLOOR_SETS if len(f) == floors] if floors > 1 else []
    rng.shuffle(candidates)
    chosen_floors = next(
        (fs for fs in candidates
         if not any(normalize(f) in normalize(a) or normalize(a) in normalize(f)
                    for f in fs for a in home.areas)),
        (),
    )  # fmt: skip
    _assign_floors(rng, home, chosen_floors)
    style_weights = STYLES[rng.choice(list(STYLES))]
    for area in home.areas:
        for chance, low, high, things in SLOTS[home.area_kind[area]]:
            if rng.random() >= chance:
                continue
            for label in rng.sample(things, min(len(things), rng.randint(low, high))):
                _add_device(
                    rng, home, THINGS[label], area, style_weights=style_weights, reserved=reserved
                )
    scenes = list(SCENES) + (list(RESERVED_SCENES) * 3 if reserved else [])
    for scene in rng.sample(scenes, rng.randint(0, 5)):
        living = [a for a in home.areas if home.area_kind[a] in ("living", "bedroom")]
        where = rng.choice(living) if living and rng.random() < 0.3 else None
        if not home.conflicts(scene):
            _add_device(
                rng,
                home,
                SCENE,
                where,
                style_weights=style_weights,
                reserved=reserved,
                scene_name=scene,
            )
    return home


# -- requests -----------------------------------------------------------------------------


@dataclass
class Draft:
    """A request before styling: a template, its slots, and the planner's answer."""

    template: str
    slots: dict[str, str]
    kind: Kind
    action: str
    targets: list[str]
    value: int | str | None = None
    here: str | None = None


TYPO_SLOTS = ("d", "d2", "d3", "d4", "p", "p2", "n", "u")
_STOP = frozenset({"the", "in", "on", "and", "this", "that", "with", "from", "room"})


def label_of(domain: Domain | None, place: str | None) -> str:
    """The planner's group label (edge_agent.agent.targets)."""
    if domain is None:
        return f"everything in {place}"
    if place is None:
        return f"all {PLURALS[domain]}"
    return f"{PLURALS[domain]} in {place}"


_DOMAIN_OF_PLURAL = {PLURALS[d]: d for d in ACTIONABLE}


def parse_label(label: str) -> tuple[Domain | None, str | None] | None:
    """(domain, place) of a group label, None if ``label`` is not one."""
    if label.startswith("everything in "):
        return None, label.removeprefix("everything in ")
    if match := re.fullmatch(r"all (\w+)", label):
        domain = _DOMAIN_OF_PLURAL.get(match.group(1))
        return (domain, None) if domain else None
    if match := re.fullmatch(r"(\w+) in (.+)", label):
        domain = _DOMAIN_OF_PLURAL.get(match.group(1))
        return (domain, match.group(2)) if domain else None
    return None


def expand(home: Home, targets: list[str], action: Action) -> list[Dev]:
    """The devices an intent commands: named ones and group members that support ``action``."""
    by_name = {d.name: d for d in home.devices}
    found: dict[str, Dev] = {}
    for target in targets:
        if target in by_name:
            found[target] = by_name[target]
            continue
        parsed = parse_label(target)
        if parsed is None:
            raise ValueError(f"{target!r} is neither a device of {home.id} nor a group")
        domain, place = parsed
        for dev in home.devices:
            if domain is None and dev.domain not in ACTIONABLE:
                continue
            if domain is not None and dev.domain != domain:
                continue
            if place is None or place in (dev.area, dev.floor):
                found[dev.name] = dev
    return [d for d in found.values() if d.supports(action)]


class Gen:
    """Helpers a family uses to phrase one request for one home."""

    def __init__(self, rng: random.Random, home: Home) -> None:
        self.rng = rng
        self.home = home
        self.number_words = False

    # choices

    def pick(self, items: Sequence[T]) -> T:
        if not items:
            raise UnsuitableError
        return self.rng.choice(items)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def devs(self, **kw: Any) -> list[Dev]:
        found = self.home.where(**kw)
        if not found:
            raise UnsuitableError
        return found

    # devices and places

    def ref(self, dev: Dev, article: bool = True) -> str:
        """A way to name ``dev`` that means only it: its name, an alias or a short form."""
        refs = [(t, k) for t, k in dev.refs if not self.home.ambiguous(t, dev)]
        if not refs:
            raise UnsuitableError
        names = [r for r in refs if r[1] == "name"]
        text, kind = names[0] if names and self.chance(0.6) else self.pick(refs)
        if dev.style == "snake" and kind == "name" and self.chance(0.1):
            text = dev.name
        if kind == "name" and dev.style == "brand" and self.chance(0.2):
            text = re.sub(r"\b(\d)\b", lambda m: _ONES[int(m.group(1))], text)
        if not article or dev.domain == "scene" or text.split(" ")[0].endswith("'s"):
            return text
        if kind == "name" and dev.style == "brand" and self.chance(0.5):
            return text
        return f"the {text}"

    def described(self, dev: Dev) -> tuple[str, str]:
        """(area adjective, noun) for "the kitchen light", if that means only ``dev``."""
        nouns = [n for n in dev.thing.nouns if self.home.unique_described(dev, n)]
        if dev.area is None or not nouns:
            raise UnsuitableError
        return self.adj(dev.area), self.pick(nouns)

    def adj(self, place: str) -> str:
        """ "kitchen", "Mia's room", "upstairs", "ground floor"."""
        if "'s " in place:
            person, rest = place.split("'s ", 1)
            return f"{person}'s {rest.lower()}"
        return place.lower()

    def the(self, place: str) -> str:
        if "'s " in place or place in ("Upstairs", "Downstairs"):
            return self.adj(place)
        return f"the {self.adj(place)}"

    def pin(self, place: str) -> str:
        """ "in the kitchen", "on the patio", "upstairs", "on the ground floor"."""
        if place in ("Upstairs", "Downstairs"):
            return place.lower()
        if place in self.home.floors:
            if place in ("Basement", "Attic"):
                return f"in the {place.lower()}"
            return f"on the {place.lower()}"
        return f"{'on' if place in ON_AREAS else 'in'} {self.the(place)}"

    # numbers

    def number(self, n: int) -> str:
        if self.chance(0.3):
            self.number_words = True
            return number_words(n, hyphen=self.chance(0.6))
        return str(n)

    def pct(self, n: int) -> str:
        text = self.number(n)
        if text.isdigit():
            return text + self.pick(["%", " percent", " percent", " per cent"])
        return text + self.pick([" percent", " per cent"])

    def degrees(self, n: int) -> str:
        text = self.number(n)
        unit = "F" if self.home.fahrenheit else "C"
        if text.isdigit():
            scale = "fahrenheit" if unit == "F" else "celsius"
            return text + self.pick([" degrees", " degrees", "°", f"°{unit}", f" degrees {scale}"])
        return text + " degrees"

    def kelvin(self, n: int) -> str:
        if self.chance(0.15):
            self.number_words = True
            return number_words(n, self.chance(0.5), hundreds=self.chance(0.5)) + " kelvin"
        return str(n) + self.pick([" kelvin", "K", " K", " kelvin"])


_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int, hyphen: bool = True, hundreds: bool = False) -> str:
    """0-9999 in English words: 21 -> "twenty-one"; 2700 -> "two thousand seven hundred", or
    with ``hundreds`` "twenty-seven hundred"."""
    if n < 0 or n > 9999:
        raise ValueError(f"{n} is out of range")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (("-" if hyphen else " ") + _ONES[ones] if ones else "")
    if n < 1000:
        count, rest = divmod(n, 100)
        return f"{_ONES[count]} hundred" + (f" {number_words(rest, hyphen)}" if rest else "")
    if hundreds and n % 100 == 0 and n % 1000 != 0:
        return f"{number_words(n // 100, hyphen)} hundred"
    count, rest = divmod(n, 1000)
    return f"{_ONES[count]} thousand" + (f" {number_words(rest, hyphen)}" if rest else "")


def _typo(rng: random.Random, phrase: str) -> str:
    words = phrase.split(" ")
    spots = [
        i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha() and w.lower() not in _STOP
    ]
    if not spots:
        return phrase
    i = rng.choice(spots)
    word = words[i]
    j = rng.randint(1, len(word) - 2)
    op = rng.choice(["swap", "drop", "double"])
    if op == "swap" and word[j] != word[j + 1]:
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif op == "double":
        word = word[:j] + word[j] + word[j:]
    else:
        word = word[:j] + word[j + 1 :]
    words[i] = word
    return " ".join(words)


def _cmd(
    template: str, slots: dict[str, str], action: str, targets: list[str],
    value: int | str | None = None, *, here: str | None = None,
) -> Draft:  # fmt: skip
    return Draft(template, slots, "command", action, targets, value, here)


def _query(
    template: str, slots: dict[str, str], targets: list[str], here: str | None = None
) -> Draft:
    return Draft(template, slots, "query", QUERY, targets, None, here)


def _none(template: str, slots: dict[str, str] | None = None) -> Draft:
    return Draft(template, slots or {}, "none", NONE, [])


# values


def _span(devs: Sequence[Dev], action: Action) -> tuple[float, float]:
    ranges = [d.device.ranges[action] for d in devs if action in d.device.ranges]
    if len(ranges) != len(devs):
        raise UnsuitableError
    return max(r.min for r in ranges), min(r.max for r in ranges)


def _value_in(g: Gen, devs: Sequence[Dev], action: Action, candidates: Sequence[int]) -> int:
    low, high = _span(devs, action)
    return g.pick([v for v in candidates if low <= v <= high])


_PCTS = (10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100, 5, 15, 35, 45, 55, 65, 85, 95, 12, 33,
         42, 67, 18, 8)  # fmt: skip
_KELVINS = (2200, 2400, 2700, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 6500, 2500, 3200, 4200)


def _pct_value(g: Gen, devs: Sequence[Dev], action: Action, lowest: int = 5) -> int:
    pool = [v for v in _PCTS if v >= lowest]
    return _value_in(g, devs, action, pool[:12] if g.chance(0.7) else pool)


def _temp_value(g: Gen, devs: Sequence[Dev]) -> int:
    if g.home.fahrenheit:
        return _value_in(g, devs, "set_temperature", list(range(60, 80)))
    common = list(range(17, 25))
    return _value_in(g, devs, "set_temperature", common if g.chance(0.75) else list(range(7, 31)))


def _option_value(g: Gen, devs: Sequence[Dev], action: Action, exclude: Sequence[str] = ()) -> str:
    allowed: set[str] | None = None
    for dev in devs:
        words = set(dev.device.options.get(action, COLOR_OPTIONS if action == "set_color" else []))
        allowed = words if allowed is None else allowed & words
    return g.pick(sorted((allowed or set()) - set(exclude)))


# -- families -----------------------------------------------------------------------------

FamilySplit = Literal["train", "heldout"]


@dataclass(frozen=True)
class Family:
    id: str
    split: FamilySplit
    skill: str
    weight: float
    make: Callable[[Gen], Draft]
    doc: str


FAMILIES: dict[str, Family] = {}


def family(
    fid: str, split: FamilySplit, skill: str, weight: float = 1.0
) -> Callable[[Callable[[Gen], Draft]], Callable[[Gen], Draft]]:
    def register(make: Callable[[Gen], Draft]) -> Callable[[Gen], Draft]:
        FAMILIES[fid] = Family(fid, split, skill, weight, make, (make.__doc__ or "").strip())
        return make

    return register


_ON = ("turn on {d}", "switch on {d}", "turn {d} on", "switch {d} on", "power on {d}", "put {d} on")
_OFF = ("turn off {d}", "switch off {d}", "turn {d} off", "switch {d} off", "power off {d}",
        "shut off {d}")  # fmt: skip
_POWER_DOMAINS: tuple[Domain, ...] = ("light", "switch", "fan", "climate")


def _power(g: Gen, actions: Sequence[Action] = ("turn_on", "turn_off")) -> tuple[Dev, Action]:
    action = g.pick(actions)
    devs = [d for d in g.devs(action=action) if d.domain in _POWER_DOMAINS]
    if action == "turn_on":  # "turn on the thermostat" is rare; keep climate mostly for off
        devs = [d for d in devs if d.domain != "climate" or g.chance(0.3)]
    return g.pick(devs), action


def _on_off(g: Gen, on: Sequence[str], off: Sequence[str], article: bool = True) -> Draft:
    dev, action = _power(g)
    template = g.pick(on if action == "turn_on" else off)
    return _cmd(template, {"d": g.ref(dev, article)}, WORD_OF[action], [dev.name])


@family("power.direct", "train", "on_off", 3.0)
def _power_direct(g: Gen) -> Draft:
    """turn on the desk lamp / switch the kitchen_ceiling off"""
    return _on_off(g, _ON, _OFF)


@family("power.polite", "train", "on_off", 2.0)
def _power_polite(g: Gen) -> Draft:
    """could you turn on the desk lamp? / would you mind switching off Mia's Lamp?"""
    return _on_off(
        g,
        ("please turn on {d}", "could you turn on {d}?", "can you switch {d} on, please?",
         "would you mind turning on {d}?", "turn on {d}, please", "could you please switch on {d}",
         "kindly turn {d} on", "can I have {d} on, please?"),
        ("please turn off {d}", "could you turn off {d}?", "can you switch {d} off, please?",
         "would you mind turning off {d}?", "switch off {d}, please",
         "could you please turn {d} off", "kindly switch off {d}", "can {d} go off, please?"),
    )  # fmt: skip


@family("power.terse", "train", "on_off", 1.5)
def _power_terse(g: Gen) -> Draft:
    """desk lamp on / hue go off"""
    on = ("{d} on", "{d} on now", "{d}: on", "{d} on pls")
    return _on_off(g, on, ("{d} off", "{d} off now", "{d}: off", "{d} off pls"), article=False)


@family("power.casual", "heldout", "on_off", 2.0)
def _power_casual(g: Gen) -> Draft:
    """kill the floor lamp / fire up the tower fan / I don't need the kettle anymore"""
    return _on_off(
        g,
        ("fire up {d}", "get {d} going", "I want {d} on", "let's have {d} on", "{d} should be on",
         "gimme {d}", "bring {d} to life"),
        ("kill {d}", "cut {d}", "I don't need {d} anymore", "{d} can go off", "we're done with {d}",
         "lose {d}", "{d} should be off"),
    )  # fmt: skip


@family("power.wordorder", "train", "on_off", 1.0)
def _power_wordorder(g: Gen) -> Draft:
    """the desk lamp, turn it on / off with the ceiling fan"""
    return _on_off(
        g,
        ("{d}, turn it on", "{d} - switch it on please", "on with {d}", "{d}, on please",
         "as for {d}, switch it on"),
        ("{d}, turn it off", "{d} - switch it off please", "off with {d}", "{d}, off please",
         "as for {d}, turn it off"),
    )  # fmt: skip


@family("power.toggle", "train", "toggle", 1.0)
def _power_toggle(g: Gen) -> Draft:
    """toggle the desk lamp / flip the kettle"""
    dev = g.pick(g.devs(action="toggle"))
    template = g.pick(["toggle {d}", "flip {d}", "toggle {d} please", "{d} toggle",
                       "toggle the power on {d}"])  # fmt: skip
    return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}"))}, "toggle", [dev.name])


@family("power.toggle_polite", "heldout", "toggle", 0.8)
def _power_toggle_polite(g: Gen) -> Draft:
    """could you toggle the desk lamp, please? / can you flip the kettle for me?"""
    dev = g.pick(g.devs(action="toggle"))
    template = g.pick(["could you toggle {d}, please?", "can you flip {d} for me?",
                       "please toggle {d}", "would you mind toggling {d}?",
                       "flip {d} the other way, please"])  # fmt: skip
    return _cmd(template, {"d": g.ref(dev)}, "toggle", [dev.name])


@family("power.described", "train", "on_off", 2.0)
def _power_described(g: Gen) -> Draft:
    """turn on the kitchen light / switch the fan in the office off (the only one there)"""
    dev, action = _power(g)
    adj, noun = g.described(dev)
    on = ("turn on the {p} {n}", "switch on the {n} {pin}", "turn the {n} {pin} on", "{p} {n} on")
    off = ("turn off the {p} {n}", "switch off the {n} {pin}", "turn the {n} {pin} off",
           "{p} {n} off")  # fmt: skip
    assert dev.area is not None
    template = _place_slots(g, g.pick(on if action == "turn_on" else off), dev.area)
    return _cmd(template, {"p": adj, "n": noun}, WORD_OF[action], [dev.name])


def _area_with(g: Gen, domain: Domain, action: Action, minimum: int = 1) -> tuple[str, list[Dev]]:
    areas = [
        a
        for a in g.home.areas
        if len(g.home.where(domain=domain, place=a, action=action)) >= minimum
    ]
    area = g.pick(areas)
    return area, g.home.where(domain=domain, place=area, action=action)


def _pin_slot(g: Gen, place: str, key: str = "p") -> str:
    """A template part "in {p}" for a place, with the place word as a typo-able slot."""
    return g.pin(place).replace(g.adj(place), "{" + key + "}")


@family("here.direct", "train", "here", 2.0)
def _here_direct(g: Gen) -> Draft:
    """turn off the lights in here / set the temperature in here to 21 degrees (area = here)"""
    option = g.pick(["lights", "lights", "device", "climate", "dim", "cover"])
    if option == "lights":
        action: Action = g.pick(["turn_on", "turn_off"])
        area, _ = _area_with(g, "light", action)
        word = "on" if action == "turn_on" else "off"
        template = g.pick([f"turn {word} the lights in here", f"lights {word} in here",
                           f"switch the lights in here {word}",
                           f"switch {word} the lights in here"])  # fmt: skip
        return _cmd(template, {}, WORD_OF[action], [label_of("light", area)], here=area)
    if option == "device":
        dev, action = _power(g)
        _, noun = g.described(dev)
        word = "on" if action == "turn_on" else "off"
        template = g.pick([f"turn {word} the {{n}} in here", f"switch the {{n}} in here {word}",
                           f"{{n}} {word} in here"])  # fmt: skip
        return _cmd(template, {"n": noun}, WORD_OF[action], [dev.name], here=dev.area)
    if option == "climate":
        dev = g.pick(g.devs(action="set_temperature"))
        g.described(dev)  # the only climate device in its area
        value = _temp_value(g, [dev])
        template = g.pick(["set the temperature in here to {v}", "make it {v} in here",
                           "set it to {v} in here", "I want it {v} in here"])  # fmt: skip
        return _cmd(
            template, {"v": g.degrees(value)}, "temperature", [dev.name], value, here=dev.area
        )
    if option == "dim":
        area, devs = _area_with(g, "light", "set_brightness")
        value = _pct_value(g, devs, "set_brightness")
        template = g.pick(["dim the lights in here to {v}", "set the lights in here to {v}",
                           "lights in here to {v}"])  # fmt: skip
        return _cmd(template, {"v": g.pct(value)}, "brightness", [label_of("light", area)], value,
                    here=area)  # fmt: skip
    cover: Action = g.pick(["open", "close"])
    dev = g.pick(g.devs(domain="cover", action=cover))
    _, noun = g.described(dev)
    return _cmd(
        f"{cover} the {{n}} in here", {"n": noun}, WORD_OF[cover], [dev.name], here=dev.area
    )


_DARK = ("it's too dark {pin}", "I can't see a thing {pin}", "it's pitch black {pin}",
         "could use some light {pin}", "{the} is way too dark", "it's getting dark {pin}",
         "{the} needs more light", "I'm sitting in the dark {pin}",
         "it's so dim {pin}")  # fmt: skip
_DONE = ("I'm leaving {the} now, the lights can go off", "we're done {pin}, lights out",
         "nobody's {pin} anymore, no need for the lights",
         "all finished {pin}, you can kill the lights", "we've left {the}, lights off please",
         "the lights {pin} aren't needed now")  # fmt: skip


def _place_slots(g: Gen, template: str, place: str) -> str:
    return template.replace("{pin}", _pin_slot(g, place)).replace(
        "{the}", g.the(place).replace(g.adj(place), "{p}")
    )


def _fan_cooled_areas(g: Gen) -> list[str]:
    """Rooms whose fans are the answer to "too warm": fans there, and no thermostat."""
    return [a for a in g.home.areas if g.home.where(domain="fan", place=a, action="turn_on")
            and not g.home.where(domain="climate", place=a)]  # fmt: skip


@family("indirect.dark", "train", "indirect", 1.2)
def _indirect_dark(g: Gen) -> Draft:
    """it's too dark in the study / I can't see a thing upstairs / we're done in the den"""
    action: Action = g.pick(["turn_on", "turn_on", "turn_off"])
    places = [p for p in [*g.home.areas, *g.home.floors] if g.home.where(domain="light", place=p)]
    place = g.pick(places)
    template = _place_slots(g, g.pick(_DARK if action == "turn_on" else _DONE), place)
    return _cmd(template, {"p": g.adj(place)}, WORD_OF[action], [label_of("light", place)])


@family("here.indirect", "heldout", "here", 2.0)
def _here_indirect(g: Gen) -> Draft:
    """it's too dark in here / it's stuffy in here (fans, no thermostat) / we're done in here"""
    option = g.pick(["dark", "dark", "done", "stuffy"])
    if option == "stuffy":
        areas = _fan_cooled_areas(g)
        area = g.pick(areas)
        template = g.pick(["it's stuffy in here", "it's way too hot in here",
                           "I need some air in here", "it's so muggy in here"])  # fmt: skip
        return _cmd(template, {}, "on", [label_of("fan", area)], here=area)
    action: Action = "turn_on" if option == "dark" else "turn_off"
    area, _ = _area_with(g, "light", action)
    template = g.pick(
        ["it's too dark in here", "I can't see a thing in here", "bit dark in here, isn't it?",
         "can we get some light in here?", "it's really gloomy in here"]
        if option == "dark"
        else ["we're done in here, lights out", "nobody's in here anymore, lights can go off",
              "I'm heading out of here, no need for the lights"]
    )  # fmt: skip
    return _cmd(template, {}, WORD_OF[action], [label_of("light", area)], here=area)


_WARM = ("it's too hot {pin}", "it's roasting {pin}", "the air is stale {pin}",
         "it's sweltering {pin}", "{the} could use a breeze", "we need a breeze {pin}",
         "it's baking {pin}", "it's like an oven {pin}", "I'm overheating {pin}",
         "it's hot and sticky {pin}", "{the} is stifling")  # fmt: skip


@family("indirect.warm", "train", "indirect", 1.5)
def _indirect_warm(g: Gen) -> Draft:
    """it's too hot in the office (fans there, no thermostat) / it's roasting in here / it's
    pitch black in here: the knowledge of the held-out stuffy and in-here families (warm ->
    fans, dark -> lights, here = the satellite's area) in other words"""
    here = g.chance(0.5)
    if g.chance(0.6):
        areas = _fan_cooled_areas(g)
        area = g.pick(areas)
        if here:
            template = g.pick(["it's too hot in here", "it's roasting in here",
                               "the air in here is stale", "could use a breeze in here",
                               "it's baking in here", "I'm overheating in here",
                               "it's stifling in here"])  # fmt: skip
            return _cmd(template, {}, "on", [label_of("fan", area)], here=area)
        return _cmd(_place_slots(g, g.pick(_WARM), area), {"p": g.adj(area)}, "on",
                    [label_of("fan", area)])  # fmt: skip
    action: Action = g.pick(["turn_on", "turn_on", "turn_off"])
    area, _ = _area_with(g, "light", action)
    template = g.pick(
        ["it's pitch black in here", "could use some light in here", "way too dark in here",
         "I can't see anything in here", "it's getting dark in here", "it's so dim in here"]
        if action == "turn_on"
        else ["all finished in here, you can kill the lights", "I'm leaving, lights off in here",
              "the lights in here aren't needed now"]
    )  # fmt: skip
    return _cmd(template, {}, WORD_OF[action], [label_of("light", area)], here=area)


@family("indirect.stuffy", "heldout", "indirect", 1.0)
def _indirect_stuffy(g: Gen) -> Draft:
    """it's stuffy in the office (fans there, no thermostat) / I can barely see in the study"""
    if g.chance(0.35):
        place = g.pick([a for a in g.home.areas if g.home.where(domain="light", place=a)])
        template = g.pick(["I can barely see {pin}", "{the} is far too gloomy",
                           "it's like a cave {pin}"])  # fmt: skip
        return _cmd(_place_slots(g, template, place), {"p": g.adj(place)}, "on",
                    [label_of("light", place)])  # fmt: skip
    areas = _fan_cooled_areas(g)
    area = g.pick(areas)
    template = g.pick(["it's stuffy {pin}", "it's boiling {pin}", "I need some air {pin}",
                       "{the} is way too warm", "it's so muggy {pin}"])  # fmt: skip
    return _cmd(_place_slots(g, template, area), {"p": g.adj(area)}, "on", [label_of("fan", area)])


@family("indirect.remark", "train", "indirect", 1.0)
def _indirect_remark(g: Gen) -> Draft:
    """rather warm in the office, don't you think? / why is it so dark in here? (a remark or
    a question about the room that asks for its fans or lights, never for a state)"""
    here = g.chance(0.5)
    if g.chance(0.5):
        area = g.pick(_fan_cooled_areas(g))
        templates = ["rather warm {pin}, don't you think?", "isn't it hot {pin}?",
                     "why is it so warm {pin}?", "don't you find it airless {pin}?",
                     "{the} feels like a sauna", "phew, it's close {pin}",
                     "why is it so clammy {pin}?", "I'm sweating {pin}, aren't you?"]  # fmt: skip
        label = label_of("fan", area)
    else:
        area, _ = _area_with(g, "light", "turn_on")
        templates = ["isn't it dark {pin}?", "why is it so dark {pin}?",
                     "rather murky {pin}, don't you think?", "don't you find it dim {pin}?",
                     "{the} feels like a dungeon", "hard to read {pin}, isn't it?"]  # fmt: skip
        label = label_of("light", area)
    template = g.pick(templates)
    if here:
        if "{the}" in template:
            raise UnsuitableError
        return _cmd(template.replace("{pin}", "in here"), {}, "on", [label], here=area)
    return _cmd(_place_slots(g, template, area), {"p": g.adj(area)}, "on", [label])


def _value_draft(
    g: Gen, action: Action, templates: Sequence[str], *, fmt: Callable[[int], str],
    values: Callable[[Dev], int], article: bool = True,
) -> Draft:  # fmt: skip
    dev = g.pick(g.devs(action=action))
    value = values(dev)
    template = g.pick(templates)
    lead = article and not template.startswith("{d}")
    return _cmd(template, {"d": g.ref(dev, lead or g.chance(0.5)), "v": fmt(value)},
                WORD_OF[action], [dev.name], value)  # fmt: skip


@family("brightness.direct", "train", "brightness", 2.0)
def _brightness_direct(g: Gen) -> Draft:
    """set the desk lamp to 40% / dim the hue go to thirty percent"""
    return _value_draft(
        g, "set_brightness",
        ("set {d} to {v}", "dim {d} to {v}", "set the brightness of {d} to {v}",
         "brighten {d} to {v}", "change {d} brightness to {v}", "set {d} brightness to {v}",
         "turn {d} down to {v}", "turn {d} up to {v}"),
        fmt=g.pct, values=lambda d: _pct_value(g, [d], "set_brightness"),
    )  # fmt: skip


@family("brightness.terse", "train", "brightness", 1.0)
def _brightness_terse(g: Gen) -> Draft:
    """desk lamp 40% / kitchen_ceiling to sixty"""
    return _value_draft(
        g, "set_brightness", ("{d} {v}", "{d} to {v}", "{d} at {v}", "brightness {v} {d}"),
        fmt=lambda v: g.pct(v) if g.chance(0.6) else g.number(v),
        values=lambda d: _pct_value(g, [d], "set_brightness"), article=False,
    )  # fmt: skip


@family("brightness.level", "train", "brightness", 0.8)
def _brightness_level(g: Gen) -> Draft:
    """set the desk lamp to half brightness / the floor lamp to full brightness"""
    dev = g.pick(g.devs(action="set_brightness"))
    value, templates = g.pick([
        (50, ("set {d} to half brightness", "{d} at half brightness", "half brightness on {d}")),
        (100, ("set {d} to full brightness", "{d} to full brightness",
               "max out the brightness on {d}", "{d} as bright as it goes")),
        (25, ("{d} to a quarter brightness", "set {d} to quarter brightness")),
    ])  # fmt: skip
    low, high = _span([dev], "set_brightness")
    if not low <= value <= high:
        raise UnsuitableError
    template = g.pick(templates)
    return _cmd(template, {"d": g.ref(dev)}, "brightness", [dev.name], value)


@family("brightness.polite", "heldout", "brightness", 1.5)
def _brightness_polite(g: Gen) -> Draft:
    """could you dim the desk lamp to 30 percent? / I'd like Mia's Lamp at half brightness"""
    if g.chance(0.25):
        dev = g.pick(g.devs(action="set_brightness"))
        _span([dev], "set_brightness")
        return _cmd(g.pick(["I'd like {d} at half brightness, please",
                            "could you put {d} at half brightness?"]),
                    {"d": g.ref(dev)}, "brightness", [dev.name], 50)  # fmt: skip
    return _value_draft(
        g, "set_brightness",
        ("could you dim {d} to {v}?", "please set {d} to {v} brightness",
         "would you mind bringing {d} down to {v}?", "I'd like {d} at {v}, please",
         "can you make {d} {v} bright?", "could you please turn {d} up to {v}"),
        fmt=g.pct, values=lambda d: _pct_value(g, [d], "set_brightness"),
    )  # fmt: skip


@family("warmth.direct", "train", "warmth", 1.0)
def _warmth_direct(g: Gen) -> Draft:
    """set the desk lamp to 2700 kelvin / hue go colour temperature 4000K"""
    return _value_draft(
        g, "set_color_temp",
        ("set {d} to {v}", "set the colour temperature of {d} to {v}", "{d} color temp {v}",
         "change {d} to {v}", "make {d} {v}", "set the color temperature on {d} to {v}"),
        fmt=g.kelvin, values=lambda d: _value_in(g, [d], "set_color_temp", _KELVINS),
    )  # fmt: skip


@family("warmth.polite", "heldout", "warmth", 1.0)
def _warmth_polite(g: Gen) -> Draft:
    """could you set the desk lamp to 3000 kelvin, please?"""
    return _value_draft(
        g, "set_color_temp",
        ("could you set {d} to {v}, please?", "I'd like {d} at {v}",
         "please change the colour temperature of {d} to {v}", "would you put {d} on {v}?",
         "can {d} go to {v}?"),
        fmt=g.kelvin, values=lambda d: _value_in(g, [d], "set_color_temp", _KELVINS),
    )  # fmt: skip


def _color_draft(g: Gen, templates: Sequence[str]) -> Draft:
    dev = g.pick(g.devs(action="set_color"))
    value = _option_value(g, [dev], "set_color")
    template = g.pick(templates)
    return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}")), "v": value}, "color",
                [dev.name], value)  # fmt: skip


@family("color.direct", "train", "color", 1.2)
def _color_direct(g: Gen) -> Draft:
    """make the desk lamp red / set the light strip to warm white"""
    return _color_draft(g, ("make {d} {v}", "turn {d} {v}", "set {d} to {v}", "change {d} to {v}",
                            "{d} {v}", "set the colour of {d} to {v}",
                            "change the color of {d} to {v}"))  # fmt: skip


@family("color.polite", "heldout", "color", 1.2)
def _color_polite(g: Gen) -> Draft:
    """could you make the desk lamp blue? / I'd like the light strip in purple, please"""
    return _color_draft(g, ("could you make {d} {v}?", "I'd like {d} in {v}, please",
                            "please change the colour of {d} to {v}", "can {d} be {v}?",
                            "would you mind turning {d} {v}?"))  # fmt: skip


@family("temperature.device", "train", "temperature", 1.2)
def _temperature_device(g: Gen) -> Draft:
    """set the hallway thermostat to 21 degrees / nest to twenty-one"""
    return _value_draft(
        g, "set_temperature",
        ("set {d} to {v}", "{d} to {v}", "change {d} to {v}", "put {d} on {v}",
         "set the temperature on {d} to {v}", "turn {d} up to {v}", "turn {d} down to {v}"),
        fmt=g.degrees, values=lambda d: _temp_value(g, [d]),
    )  # fmt: skip


def _can(dev: Dev, mode: str) -> bool:
    modes = dev.device.options.get("set_hvac_mode")
    if modes is None:
        return mode == "heat" and dev.thing.sub in ("heating", "thermostat", "heatpump")
    return mode in modes


@family("temperature.area", "train", "temperature", 1.2)
def _temperature_area(g: Gen) -> Draft:
    """set the bedroom to 20 degrees / heat the study to 22 (its only thermostat)"""
    dev = g.pick(g.devs(action="set_temperature"))
    adj, noun = g.described(dev)
    value = _temp_value(g, [dev])
    templates = ["set {the} to {v}", "set the temperature {pin} to {v}", "make it {v} {pin}",
                 "{p} temperature {v}", "set the {p} {n} to {v}"]  # fmt: skip
    if _can(dev, "heat"):
        templates += ["heat {the} to {v}", "warm {the} up to {v}"]
    if _can(dev, "cool"):
        templates += ["cool {the} down to {v}"]
    assert dev.area is not None
    template = _place_slots(g, g.pick(templates), dev.area)
    return _cmd(template, {"p": adj, "n": noun, "v": g.degrees(value)}, "temperature", [dev.name],
                value)  # fmt: skip


@family("temperature.polite", "heldout", "temperature", 1.5)
def _temperature_polite(g: Gen) -> Draft:
    """could you set the bedroom to 20 degrees? / would you mind setting the nest to 68?"""
    dev = g.pick(g.devs(action="set_temperature"))
    value = _temp_value(g, [dev])
    if g.chance(0.5):
        g.described(dev)
        assert dev.area is not None
        template = _place_slots(g, g.pick(["could you set {the} to {v}?",
                                           "I'd like it to be {v} {pin}, please",
                                           "please make it {v} {pin}",
                                           "can you get {the} to {v}?"]), dev.area)  # fmt: skip
        return _cmd(template, {"p": g.adj(dev.area), "v": g.degrees(value)}, "temperature",
                    [dev.name], value)  # fmt: skip
    template = g.pick(["would you mind setting {d} to {v}?", "can you bump {d} to {v}, please?",
                       "could you please put {d} on {v}", "I'd like {d} at {v}"])  # fmt: skip
    return _cmd(
        template, {"d": g.ref(dev), "v": g.degrees(value)}, "temperature", [dev.name], value
    )


def _mode_pick(g: Gen) -> tuple[Dev, str, str]:
    dev = g.pick(g.devs(action="set_hvac_mode"))
    mode = _option_value(g, [dev], "set_hvac_mode", exclude=("off",))
    return dev, mode, g.pick(MODE_WORDS[mode])


@family("mode.direct", "train", "mode", 1.0)
def _mode_direct(g: Gen) -> Draft:
    """set the thermostat to cooling mode / switch the AC to dry"""
    dev, mode, word = _mode_pick(g)
    template = g.pick(["set {d} to {v} mode", "switch {d} to {v}", "put {d} in {v} mode",
                       "{d} mode {v}", "change {d} to {v} mode", "{d} to {v}"])  # fmt: skip
    return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}")), "v": word}, "mode",
                [dev.name], mode)  # fmt: skip


@family("mode.room", "train", "mode", 1.0)
def _mode_room(g: Gen) -> Draft:
    """cooling mode in the study / change the bedroom over to heat: the knowledge of the
    held-out mode.area family (a room's only thermostat, named by its room) in other words"""
    dev, mode, word = _mode_pick(g)
    adj, noun = g.described(dev)
    assert dev.area is not None
    templates = ["{v} mode {pin}", "change {the} over to {v}", "set {the} to {v} mode",
                 "turn the {p} {n} to {v}", "{pin}, {v} mode", "let's have {v} {pin}",
                 "run {the} on {v}", "{the} needs {v} mode"]  # fmt: skip
    template = _place_slots(g, g.pick(templates), dev.area)
    return _cmd(template, {"p": adj, "n": noun, "v": word}, "mode", [dev.name], mode)


@family("mode.area", "heldout", "mode", 1.0)
def _mode_area(g: Gen) -> Draft:
    """put the bedroom on cooling / I want heat mode in the study (its only thermostat)"""
    dev, mode, word = _mode_pick(g)
    adj, noun = g.described(dev)
    assert dev.area is not None
    template = _place_slots(g, g.pick(["put {the} on {v}", "switch the {p} {n} to {v} mode",
                                       "I want {v} mode {pin}", "{p} {n}: {v} mode please",
                                       "could you set {the} to {v}?"]), dev.area)  # fmt: skip
    return _cmd(template, {"p": adj, "n": noun, "v": word}, "mode", [dev.name], mode)


@family("position.direct", "train", "position", 1.2)
def _position_direct(g: Gen) -> Draft:
    """set the blinds to 30% / open the roller blind to seventy percent"""
    return _value_draft(
        g, "set_position",
        ("set {d} to {v}", "open {d} to {v}", "move {d} to {v}", "set {d} position to {v}",
         "{d} position {v}", "put {d} at {v}"),
        fmt=g.pct, values=lambda d: _pct_value(g, [d], "set_position", lowest=10),
    )  # fmt: skip


@family("position.half", "train", "position", 1.5)
def _position_half(g: Gen) -> Draft:
    """set the blinds to half / the shutter to a quarter open: fractions as positions"""
    return _fraction_draft(g, [
        (50, ("set {d} to half", "move {d} to half way", "{d} to half", "half open {d}",
              "bring {d} down halfway", "raise {d} halfway")),
        (25, ("set {d} to a quarter", "{d} to a quarter open", "open {d} just a quarter",
              "raise {d} a quarter")),
        (75, ("set {d} to three quarters", "{d} to three quarters open",
              "raise {d} three quarters")),
    ])  # fmt: skip


def _fraction_draft(g: Gen, options: Sequence[tuple[int, Sequence[str]]]) -> Draft:
    """A cover set to a position said as a fraction, from (position, templates) options."""
    dev = g.pick(g.devs(action="set_position"))
    value, templates = g.pick(options)
    template = g.pick(templates)
    return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}"))}, "position",
                [dev.name], value)  # fmt: skip


@family("position.fraction", "heldout", "position", 1.2)
def _position_fraction(g: Gen) -> Draft:
    """open the blinds halfway / open the shutters a quarter of the way"""
    return _fraction_draft(g, [
        (50, ("open {d} halfway", "open {d} half way", "set {d} half open", "{d} halfway please",
              "lower {d} halfway", "put {d} halfway")),
        (25, ("open {d} a quarter of the way", "open {d} a quarter")),
        (75, ("open {d} three quarters of the way", "{d} three quarters open")),
    ])  # fmt: skip


def _cover_verbs(dev: Dev, action: Action) -> list[str]:
    window = dev.thing.device_class in WINDOW_COVERS and dev.thing.device_class != "curtain"
    if action == "open":
        return ["open {d}", "open up {d}"] + (["raise {d}", "roll up {d}"] if window else [])
    if action == "close":
        return ["close {d}", "shut {d}"] + (["lower {d}", "roll down {d}"] if window else [])
    return ["stop {d}", "stop {d} moving", "halt {d}", "hold {d} where it is"]


def _cover(g: Gen, classes: Sequence[str] | None = None) -> tuple[Dev, Action]:
    action: Action = g.pick(["open", "close", "close", "stop"] if g.chance(0.8) else ["stop"])
    devs = g.devs(domain="cover", action=action)
    if classes is not None:
        devs = [d for d in devs if d.thing.device_class in classes]
    return g.pick(devs), action


@family("cover.direct", "train", "cover", 1.5)
def _cover_direct(g: Gen) -> Draft:
    """open the blinds / lower the bedroom_roller / stop the awning"""
    dev, action = _cover(g)
    template = g.pick(_cover_verbs(dev, action))
    return _cmd(template, {"d": g.ref(dev)}, WORD_OF[action], [dev.name])


@family("cover.garage", "train", "cover", 0.8)
def _cover_garage(g: Gen) -> Draft:
    """open the garage / shut the gate (the only one of its kind in the home)"""
    dev, action = _cover(g, ("garage", "gate"))
    klass = dev.thing.device_class
    same = [d for d in g.home.devices if d.domain == "cover" and d.thing.device_class == klass]
    word = "garage" if klass == "garage" else "gate"
    mentions = [d for d in g.home.devices
                if d is not dev and any(word in _words(r) for r, _ in d.refs)]  # fmt: skip
    short = ["the garage door", "the garage"] if klass == "garage" else ["the gate"]
    unique = len(same) == 1 and not mentions
    ref = g.pick(short) if unique and g.chance(0.6) else g.ref(dev)
    verbs = {"open": ["open {d}", "open up {d}", "open {d} please", "raise {d}"],
             "close": ["close {d}", "shut {d}", "close {d} please", "lower {d}"],
             "stop": ["stop {d}", "stop {d} moving"]}[action]  # fmt: skip
    return _cmd(g.pick(verbs), {"d": ref}, WORD_OF[action], [dev.name])


@family("cover.polite", "heldout", "cover", 1.5)
def _cover_polite(g: Gen) -> Draft:
    """could you open the blinds? / would you mind lowering the shades? / please stop the awning"""
    dev, action = _cover(g)
    verbs = {
        "open": ["could you open {d}?", "please open {d}", "can you raise {d}, please?",
                 "would you mind opening {d}?"],
        "close": ["could you close {d}?", "please shut {d}", "would you mind closing {d}?",
                  "can you close {d} for me?"],
        "stop": ["could you stop {d}?", "please stop {d} moving", "can you halt {d}, please?"],
    }[action]  # fmt: skip
    return _cmd(g.pick(verbs), {"d": g.ref(dev)}, WORD_OF[action], [dev.name])


@family("lock.direct", "train", "lock", 1.2)
def _lock_direct(g: Gen) -> Draft:
    """lock the front door / unlock the nuki"""
    action: Action = g.pick(["lock", "lock", "unlock"])
    dev = g.pick(g.devs(action=action))
    template = g.pick([f"{action} {{d}}", f"{action} {{d}} please", f"{{d}}: {action}",
                       f"{action} {{d}} now"])  # fmt: skip
    return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}"))}, action, [dev.name])


@family("lock.indirect", "heldout", "lock", 1.2)
def _lock_indirect(g: Gen) -> Draft:
    """make sure the front door is locked / I need the deadbolt unlocked"""
    action: Action = g.pick(["lock", "lock", "unlock"])
    dev = g.pick(g.devs(action=action))
    templates = (
        ["make sure {d} is locked", "secure {d}", "I'm off to bed, lock {d}", "{d} needs locking",
         "we're heading out, lock {d} behind us"]
        if action == "lock"
        else ["I need {d} unlocked", "let the guests in through {d}", "{d} should be unlocked",
              "open the lock on {d}"]
    )  # fmt: skip
    return _cmd(g.pick(templates), {"d": g.ref(dev)}, action, [dev.name])


@family("valve.direct", "train", "valve", 1.0)
def _valve_direct(g: Gen) -> Draft:
    """open the water valve / turn off the sprinklers"""
    action: Action = g.pick(["open", "close"])
    dev = g.pick(g.devs(domain="valve", action=action))
    templates = (["open {d}", "turn on {d}", "open up {d}", "turn {d} on"] if action == "open"
                 else ["close {d}", "turn off {d}", "shut {d}", "shut off {d}"])  # fmt: skip
    return _cmd(g.pick(templates), {"d": g.ref(dev)}, action, [dev.name])


def _lone_sprinkler(g: Gen, valves: list[Dev]) -> Dev:
    """A sprinkler that is its area's only valve, so "the patio" can mean it."""
    dev = g.pick([d for d in valves if d.thing.sub == "sprinkler"])
    g.described(dev)
    return dev


@family("valve.garden", "train", "valve", 1.0)
def _valve_garden(g: Gen) -> Draft:
    """irrigate the lawn / no more water for the patio / switch the mains water off: the
    knowledge of the held-out valve.water family (water words -> the place's only
    sprinkler, or the home's only main valve) in other words"""
    valves = g.devs(domain="valve")
    mains = [d for d in valves if d.thing.sub == "water"]
    if len(mains) == 1 and g.chance(0.4):
        action: Action = g.pick(["open", "close"])
        template = g.pick(["put the water back on", "switch the mains water on",
                           "the water can go back on", "open the main water"]
                          if action == "open"
                          else ["switch the mains water off", "kill the water",
                                "water off at the mains", "close the main water",
                                "we need the water off"])  # fmt: skip
        return _cmd(template, {}, action, [mains[0].name])
    dev = _lone_sprinkler(g, valves)
    assert dev.area is not None
    action = g.pick(["open", "close"])
    template = g.pick(["irrigate {the}", "{the} needs watering", "{the} could use a drink",
                       "switch on the watering {pin}", "get the water going {pin}",
                       "time to water the plants {pin}"] if action == "open"
                      else ["no more water for {the}", "end the watering {pin}",
                            "{the} has had enough water", "halt the watering {pin}",
                            "switch off the watering {pin}", "{the} is soaked"])  # fmt: skip
    return _cmd(_place_slots(g, template, dev.area), {"p": g.adj(dev.area)}, action, [dev.name])


@family("valve.water", "heldout", "valve", 1.0)
def _valve_water(g: Gen) -> Draft:
    """water the garden / stop watering the patio / shut off the water (its only valve of a kind)"""
    valves = g.devs(domain="valve")
    if g.chance(0.5):
        mains = [d for d in valves if d.thing.sub == "water"]
        if len(mains) == 1:
            action: Action = g.pick(["open", "close", "close"])
            template = g.pick(["turn the water back on", "restore the water supply"]
                              if action == "open"
                              else ["shut off the water", "turn the water off",
                                    "cut the water supply"])  # fmt: skip
            return _cmd(template, {}, action, [mains[0].name])
    dev = _lone_sprinkler(g, valves)
    assert dev.area is not None
    action = g.pick(["open", "close"])
    template = g.pick(["water {the}", "start watering {the}", "give {the} some water",
                       "start {d}", "run {d}"] if action == "open"
                      else ["stop watering {the}", "stop {d}",
                            "that's enough water for {the}"])  # fmt: skip
    template = template.replace("{the}", g.the(dev.area).replace(g.adj(dev.area), "{p}"))
    return _cmd(template, {"p": g.adj(dev.area), "d": g.ref(dev)}, action, [dev.name])


@family("fan.speed", "train", "fan_speed", 1.0)
def _fan_speed(g: Gen) -> Draft:
    """set the ceiling fan to 60% / tower fan speed fifty"""
    return _value_draft(
        g, "set_fan_percentage",
        ("set {d} to {v}", "{d} speed {v}", "set the speed of {d} to {v}", "run {d} at {v}",
         "{d} to {v}", "set {d} speed to {v}"),
        fmt=g.pct, values=lambda d: _pct_value(g, [d], "set_fan_percentage", lowest=10),
    )  # fmt: skip


@family("fan.named_speed", "train", "fan_speed", 0.8)
def _fan_named_speed(g: Gen) -> Draft:
    """the ceiling fan at full speed / max out the desk fan / tower fan to half speed"""
    dev = g.pick(g.devs(action="set_fan_percentage"))
    value, template = g.pick([(100, "{d} at full speed"), (100, "max out {d}"),
                              (100, "run {d} flat out"), (100, "turn {d} all the way up"),
                              (50, "{d} to half speed"),
                              (50, "set {d} to half power")])  # fmt: skip
    return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}"))}, "fan_speed",
                [dev.name], value)  # fmt: skip


@family("fan.polite", "heldout", "fan_speed", 1.0)
def _fan_polite(g: Gen) -> Draft:
    """could you set the desk fan to 40 percent? / full speed on the ceiling fan, please"""
    if g.chance(0.3):
        dev = g.pick(g.devs(action="set_fan_percentage"))
        value, template = g.pick([(50, "could you run {d} at half speed?"),
                                  (100, "full speed on {d}, please"),
                                  (100, "please put {d} on full blast")])  # fmt: skip
        return _cmd(template, {"d": g.ref(dev)}, "fan_speed", [dev.name], value)
    return _value_draft(
        g, "set_fan_percentage",
        ("could you set {d} to {v}?", "please run {d} at {v}", "I'd like {d} at {v}, please",
         "would you mind turning {d} down to {v}?"),
        fmt=g.pct, values=lambda d: _pct_value(g, [d], "set_fan_percentage", lowest=10),
    )  # fmt: skip


@family("scene.direct", "train", "activate", 1.2)
def _scene_direct(g: Gen) -> Draft:
    """activate movie night / turn on the good morning scene"""
    dev = g.pick(g.devs(domain="scene"))
    template = g.pick(["activate {d}", "turn on {d}", "start {d}", "run the {d} scene",
                       "{d} scene", "set the {d} scene", "scene {d}",
                       "activate the {d} scene"])  # fmt: skip
    return _cmd(template, {"d": g.ref(dev)}, "activate", [dev.name])


@family("button.press", "train", "activate", 0.7)
def _button_press(g: Gen) -> Draft:
    """press the chime / push the cat feeder button"""
    dev = g.pick(g.devs(domain="button"))
    template = g.pick(["press {d}", "push {d}", "press the {n} button", "hit {d}", "trigger {d}"])
    return _cmd(template, {"d": g.ref(dev), "n": g.ref(dev, article=False)}, "activate", [dev.name])


@family("activate.casual", "heldout", "activate", 1.2)
def _activate_casual(g: Gen) -> Draft:
    """let's do movie night / time for bedtime / give the chime a press"""
    dev = g.pick(g.devs(action="activate"))
    if dev.domain == "scene":
        templates = ["let's do {d}", "time for {d}", "switch to {d}", "kick off {d}",
                     "I'm ready for {d}", "go to {d} mode", "{d}, please"]  # fmt: skip
    else:
        templates = ["give {d} a press", "tap {d}", "can you press {d}?"]
    return _cmd(g.pick(templates), {"d": g.ref(dev)}, "activate", [dev.name])


def _several(g: Gen, count: int) -> tuple[list[Dev], Action]:
    """``count`` devices that all take the same action."""
    action: Action = g.pick(["turn_on", "turn_off", "turn_off", "lock", "close", "open",
                     "set_brightness"])  # fmt: skip
    devs = g.home.where(action=action)
    if action in ("turn_on", "turn_off"):
        devs = [d for d in devs if d.domain in ("light", "switch", "fan")]
    if action in ("open", "close"):
        devs = [d for d in devs if d.domain == "cover"]
    if len(devs) < count:
        raise UnsuitableError
    return g.rng.sample(devs, count), action


_MULTI: dict[str, tuple[str, ...]] = {
    "turn_on": ("turn on {list}", "switch {list} on", "turn {list} on"),
    "turn_off": ("turn off {list}", "switch {list} off", "turn off both {list}"),
    "lock": ("lock {list}", "lock both {list}"),
    "open": ("open {list}", "open up {list}"),
    "close": ("close {list}", "shut {list}"),
    "set_brightness": ("set {list} to {v}", "dim {list} to {v}"),
}


def _multi_draft(g: Gen, devs: list[Dev], action: Action, templates: Sequence[str]) -> Draft:
    keys = ["d", "d2", "d3", "d4"][: len(devs)]
    slots = {k: g.ref(dev) for k, dev in zip(keys, devs, strict=True)}
    if len(set(slots.values())) < len(slots):
        raise UnsuitableError
    names = ["{" + k + "}" for k in keys]
    joined = (
        (", ".join(names[:-1]) + g.pick([" and ", ", and "]) + names[-1])
        if len(names) > 2
        else f"{names[0]} and {names[1]}"
    )
    template = g.pick(templates)
    if "both" in template and len(devs) != 2:
        raise UnsuitableError
    template = template.replace("{list}", joined)
    value: int | None = None
    if action == "set_brightness":
        value = _pct_value(g, devs, action)
        slots["v"] = g.pct(value)
    return _cmd(template, slots, WORD_OF[action], [d.name for d in devs], value)


@family("multi.and", "train", "multi", 2.0)
def _multi_and(g: Gen) -> Draft:
    """turn off the desk lamp and the kettle / set the floor lamp, hue go and the strip to 40%"""
    devs, action = _several(g, g.pick([2, 2, 3, 3, 4]))
    return _multi_draft(g, devs, action, _MULTI[action])


@family("multi.list", "heldout", "multi", 1.5)
def _multi_list(g: Gen) -> Draft:
    """could you turn on the desk lamp, the fan and Mia's Lamp? / lock x, y and z"""
    devs, action = _several(g, g.pick([3, 3, 4, 2]))
    polite = {
        "turn_on": ("could you turn on {list}?", "I want {list} on", "{list}: all on please"),
        "turn_off": ("could you switch off {list}?", "{list}: all off please",
                     "I want {list} off", "please turn off {list} for me"),
        "lock": ("please lock {list}", "make sure {list} are locked"),
        "open": ("please open {list}", "could you open {list}?"),
        "close": ("please close {list}", "could you shut {list}?"),
        "set_brightness": ("could you set {list} to {v}?", "I'd like {list} at {v}"),
    }[action]  # fmt: skip
    return _multi_draft(g, devs, action, polite)


@family("multi.mixed", "train", "multi", 1.0)
def _multi_mixed(g: Gen) -> Draft:
    """turn off the lights in the kitchen and the hallway / the den lights and the desk lamp"""
    action: Action = g.pick(["turn_on", "turn_off", "turn_off"])
    word = "on" if action == "turn_on" else "off"
    areas = [a for a in g.home.areas if g.home.where(domain="light", place=a, action=action)]
    if g.chance(0.5):
        if len(areas) < 2:
            raise UnsuitableError
        a, b = g.rng.sample(areas, 2)
        template = g.pick([f"turn {word} the lights {{pa}} and {{pb}}",
                           f"switch {word} the {{p}} and {{p2}} lights",
                           f"{{p}} and {{p2}} lights {word}"])  # fmt: skip
        template = template.replace("{pa}", _pin_slot(g, a)).replace("{pb}", _pin_slot(g, b, "p2"))
        return _cmd(template, {"p": g.adj(a), "p2": g.adj(b)}, word,
                    [label_of("light", a), label_of("light", b)])  # fmt: skip
    area = g.pick(areas)
    devs = [d for d in g.home.where(action=action)
            if d.domain in ("light", "switch", "fan") and d.area != area]  # fmt: skip
    dev = g.pick(devs)
    template = g.pick([f"turn {word} the {{p}} lights and {{d}}",
                       f"switch {word} {{d}} and the lights {{pin}}",
                       f"{{p}} lights {word}, and {{d}} too"])  # fmt: skip
    template = template.replace("{pin}", _pin_slot(g, area))
    return _cmd(template, {"p": g.adj(area), "d": g.ref(dev)}, word,
                [label_of("light", area), dev.name])  # fmt: skip


def _plural(g: Gen, domain: Domain, devs: Sequence[Dev]) -> str:
    """What people call a group of ``devs`` of a domain: "lights", "blinds", "doors" ..."""
    if domain == "cover":
        classes = {d.thing.device_class for d in devs}
        if not classes <= WINDOW_COVERS:
            raise UnsuitableError
        if len(classes) == 1:
            return {"blind": "blinds", "shade": "shades", "curtain": "curtains",
                    "shutter": "shutters"}[classes.pop() or ""]  # fmt: skip
        return "blinds"
    if domain == "switch":
        return "plugs" if all("plug" in d.thing.nouns for d in devs) else "switches"
    if domain == "valve":
        return "sprinklers" if all(d.thing.sub == "sprinkler" for d in devs) else "valves"
    return {"light": "lights", "fan": "fans", "lock": "doors"}[domain]


_GROUP_ACTIONS: dict[Domain, tuple[Action, ...]] = {
    "light": ("turn_on", "turn_off", "turn_off"), "fan": ("turn_on", "turn_off"),
    "switch": ("turn_off",), "cover": ("open", "close"), "lock": ("lock", "lock", "unlock"),
    "valve": ("close", "open"),
}  # fmt: skip
_VERB: dict[Action, tuple[str, ...]] = {
    "turn_on": ("turn on", "switch on"), "turn_off": ("turn off", "switch off"),
    "open": ("open",), "close": ("close",), "lock": ("lock",), "unlock": ("unlock",),
}  # fmt: skip
_TAIL: dict[Action, str] = {"turn_on": "on", "turn_off": "off", "open": "up", "close": "down"}


def _group_pick(
    g: Gen, scope: Literal["area", "floor", "all"], domains: Sequence[Domain]
) -> tuple[Domain, Action, str | None, str, list[Dev]]:
    domain = g.pick(domains)
    action = g.pick(_GROUP_ACTIONS[domain])
    if scope == "all":
        place = None
    else:
        places = g.home.areas if scope == "area" else g.home.floors
        place = g.pick([p for p in places if g.home.where(domain=domain, place=p, action=action)])
    members = g.home.where(domain=domain, place=place)
    able = [d for d in members if d.supports(action)]
    if not able or (len(members) < 2 and g.chance(0.6)):
        raise UnsuitableError
    return domain, action, place, _plural(g, domain, members), able


def _group_text(g: Gen, action: Action, noun: str, place: str | None, polite: bool) -> str:
    verb = g.pick(_VERB[action])
    where = "" if place is None else " " + _pin_slot(g, place)
    if place is None:
        forms = [f"{verb} all the {noun}", f"{verb} every one of the {noun}",
                 f"{verb} all {noun}"]  # fmt: skip
        if noun == "lights":
            forms += [f"{verb} every light in the house"]
        if action in _TAIL and not polite:
            forms += [f"all {noun} {_TAIL[action]}", f"{noun} {_TAIL[action]} everywhere"]
    else:
        forms = [f"{verb} the {noun}{where}", f"{verb} all the {noun}{where}",
                 f"{verb} the {{p}} {noun}"]  # fmt: skip
        if action in _TAIL and not polite:
            forms += [f"{{p}} {noun} {_TAIL[action]}", f"{noun} {_TAIL[action]}{where}"]
    text = g.pick(forms)
    if polite:
        text = g.pick(
            [
                "could you {x}, please?",
                "would you kindly {x}?",
                "please {x}",
                "can you {x} for me?",
                "{x}, if you would",
            ]
        ).replace("{x}", text)
    return text


def _group_draft(g: Gen, scope: Literal["area", "floor", "all"], polite: bool = False) -> Draft:
    domains: list[Domain] = ["light", "light", "light", "fan", "cover"]
    domains += ["switch"] if scope == "area" else ["lock", "valve"] if scope == "all" else ["lock"]
    domain, action, place, noun, _ = _group_pick(g, scope, domains)
    template = _group_text(g, action, noun, place, polite)
    slots = {"p": g.adj(place)} if place else {}
    return _cmd(template, slots, WORD_OF[action], [label_of(domain, place)])


@family("group.area", "train", "group", 2.0)
def _group_area(g: Gen) -> Draft:
    """turn off the lights in the kitchen / close the living room blinds / den fans on"""
    return _group_draft(g, "area")


@family("group.floor", "train", "group", 1.2)
def _group_floor(g: Gen) -> Draft:
    """turn off all the lights upstairs / lock the doors on the ground floor"""
    return _group_draft(g, "floor")


@family("group.all", "train", "group", 1.2)
def _group_all(g: Gen) -> Draft:
    """turn off all the lights / lock all the doors / close every one of the blinds"""
    return _group_draft(g, "all")


def _everything(g: Gen, polite: bool) -> Draft:
    action: Action = g.pick(["turn_off", "turn_off", "turn_off", "turn_on"])
    place = g.pick([*g.home.areas, *g.home.floors])
    able = expand(g.home, [label_of(None, place)], action)
    if len(able) < 2:
        raise UnsuitableError
    word = "on" if action == "turn_on" else "off"
    forms = [f"turn {word} everything {{pin}}", f"switch everything {word} {{pin}}",
             f"everything {word} {{pin}}"]  # fmt: skip
    if action == "turn_off":
        forms += ["shut everything down {pin}", "power down everything {pin}"]
    text = g.pick(forms)
    if polite:
        text = g.pick(["could you {x}, please?", "please {x}", "would you {x} for me?"]).replace(
            "{x}", text
        )
    return _cmd(text.replace("{pin}", _pin_slot(g, place)), {"p": g.adj(place)}, word,
                [label_of(None, place)])  # fmt: skip


@family("group.everything", "train", "group", 1.2)
def _group_everything(g: Gen) -> Draft:
    """turn off everything in the garage / shut everything down upstairs"""
    return _everything(g, polite=False)


def _group_value(g: Gen, polite: bool) -> Draft:
    option = g.pick(["brightness", "brightness", "color", "position"])
    kinds: dict[str, tuple[Action, Domain]] = {
        "brightness": ("set_brightness", "light"), "color": ("set_color", "light"),
        "position": ("set_position", "cover"),
    }  # fmt: skip
    action, domain = kinds[option]
    scope = g.pick(["area", "area", "floor", "all"])
    place: str | None = None
    if scope != "all":
        places = g.home.areas if scope == "area" else g.home.floors
        place = g.pick([p for p in places if g.home.where(domain=domain, place=p, action=action)])
    members = g.home.where(domain=domain, place=place)
    able = [d for d in members if d.supports(action)]
    if not able:
        raise UnsuitableError
    noun = _plural(g, domain, members)
    verb = "dim" if option == "brightness" else "open"
    if place is None:
        group = f"all the {noun}"
        forms = (
            [f"make {group} {{v}}", f"turn {group} {{v}}", f"set {group} to {{v}}"]
            if option == "color"
            else [f"set {group} to {{v}}", f"{group} to {{v}}", f"{verb} {group} to {{v}}"]
        )
    elif option == "color":
        forms = [
            f"make the {noun} {{pin}} {{v}}",
            f"turn the {{p}} {noun} {{v}}",
            f"set the {noun} {{pin}} to {{v}}",
        ]
    else:
        forms = [
            f"set the {noun} {{pin}} to {{v}}",
            f"{{p}} {noun} to {{v}}",
            f"{verb} the {{p}} {noun} to {{v}}",
        ]
    text = g.pick(forms)
    if polite:
        text = g.pick(["could you {x}, please?", "would you {x}?", "please {x}"]).replace(
            "{x}", text
        )
    value: int | str
    if option == "color":
        value = _option_value(g, able, action)
        slots = {"v": value}
    else:
        value = _pct_value(g, able, action, lowest=10)
        slots = {"v": g.pct(value)}
    if place is not None:
        text = text.replace("{pin}", _pin_slot(g, place))
        slots["p"] = g.adj(place)
    return _cmd(text, slots, WORD_OF[action], [label_of(domain, place)], value)


@family("group.value", "train", "group", 1.2)
def _group_value_train(g: Gen) -> Draft:
    """dim the kitchen lights to 30% / make the lights upstairs blue / set all the blinds to 50%"""
    return _group_value(g, polite=False)


@family("group.polite", "heldout", "group", 2.5)
def _group_polite(g: Gen) -> Draft:
    """could you turn off all the lights upstairs, please? / please turn everything off"""
    option = g.pick(["area", "area", "floor", "all", "everything", "value"])
    if option == "everything":
        return _everything(g, polite=True)
    if option == "value":
        return _group_value(g, polite=True)
    return _group_draft(g, option, polite=True)  # type: ignore[arg-type]


_STATE_Q: dict[Domain, tuple[str, ...]] = {
    "light": ("{be} {d} on?", "{be} {d} off?", "{be} {d} still on?", "did I leave {d} on?"),
    "switch": ("{be} {d} on?", "{be} {d} switched off?", "did I leave {d} on?"),
    "fan": ("{be} {d} running?", "{be} {d} on?"),
    "cover": ("{be} {d} open?", "{be} {d} closed?", "{be} {d} open or closed?", "{be} {d} shut?"),
    "lock": ("{be} {d} locked?", "{be} {d} unlocked?", "did I lock {d}?", "{be} {d} shut?"),
    "valve": ("{be} {d} open?", "{be} {d} running?", "{be} {d} on?"),
    "climate": ("what {be} {d} set to?", "what temperature {be} {d} set to?", "{be} {d} on?"),
    "sensor": ("what does {d} say?", "what's {d} reading?", "what {be} {d} at?"),
    "binary_sensor": ("what does {d} say?", "{be} {d} triggered?", "what's the status of {d}?"),
}  # fmt: skip
_PLURAL_WORDS = frozenset({"blinds", "shades", "curtains", "drapes", "shutters", "lights",
                           "downlights", "spotlights", "sprinklers"})  # fmt: skip


def _be(ref: str) -> str:
    """ "is" or "are", to go with a device's name ("are the blinds open")."""
    words = _words(ref)
    return "are" if words and words[-1] in _PLURAL_WORDS else "is"


def _query_ref(g: Gen, dev: Dev, template: str) -> Draft:
    ref = g.ref(dev)
    return _query(template.replace("{be}", _be(ref)), {"d": ref}, [dev.name])


@family("query.state", "train", "query", 3.0)
def _query_state(g: Gen) -> Draft:
    """is the desk lamp on? / is the front door locked? / are the fan and the kettle on?"""
    devs = [d for d in g.home.devices if d.domain in _STATE_Q]
    dev = g.pick(devs)
    if dev.domain in ("light", "switch", "fan") and g.chance(0.2):
        others = [d for d in devs if d is not dev and d.domain in ("light", "switch", "fan")]
        other = g.pick(others)
        template = g.pick(["are {d} and {d2} on?", "are {d} and {d2} both off?"])
        return _query(template, {"d": g.ref(dev), "d2": g.ref(other)}, [dev.name, other.name])
    return _query_ref(g, dev, g.pick(_STATE_Q[dev.domain]))


_HERE_STATE: dict[Domain, tuple[str, ...]] = {
    "light": ("{be} the {n} on in here?", "{be} the {n} in here still on?",
              "did I leave the {n} on in here?", "{be} the {n} in here off?"),
    "switch": ("{be} the {n} in here on?", "did I leave the {n} on in here?"),
    "fan": ("{be} the {n} in here running?", "{be} the {n} going in here?"),
    "cover": ("{be} the {n} in here open?", "{be} the {n} in here shut?",
              "{be} the {n} up or down in here?"),
    "lock": ("{be} the {n} in here locked?", "{be} the {n} in here shut?"),
    "climate": ("what {be} the {n} in here set to?", "{be} the {n} in here on?"),
}  # fmt: skip
_HERE_READING = {
    "temperature": ("how warm is it in here?", "what's the temperature in here?",
                    "is it cold in here or is it me?"),
    "humidity": ("how humid is it in here?", "what's the humidity like in here?"),
    "window": ("is the window in here open?", "did someone leave the window open in here?"),
    "occupancy": ("is anyone else in here?",),
}  # fmt: skip


@family("query.here", "train", "query", 1.5)
def _query_here(g: Gen) -> Draft:
    """is the light on in here? / are the lights in here off? / how warm is it in here?
    (a state question about the room a satellite is in: a question, never a command)"""
    option = g.pick(["device", "device", "lights", "reading"])
    if option == "lights":
        area = g.pick([a for a in g.home.areas if 2 <= len(g.home.where(domain="light", place=a))
                       <= MAX_TARGETS])  # fmt: skip
        lights = g.home.where(domain="light", place=area)
        template = g.pick(["are the lights on in here?", "are the lights in here off?",
                           "did I leave the lights on in here?",
                           "are all the lights in here on?"])  # fmt: skip
        return _query(template, {}, [d.name for d in lights], here=area)
    if option == "reading":
        what = g.pick(list(_HERE_READING))
        dev, area = _area_reading(g, what)
        return _query(g.pick(_HERE_READING[what]), {}, [dev.name], here=area)
    dev = g.pick([d for d in g.home.devices if d.domain in _HERE_STATE and d.area])
    _, noun = g.described(dev)
    template = g.pick(_HERE_STATE[dev.domain])
    return _query(template.replace("{be}", _be(noun)), {"n": noun}, [dev.name], here=dev.area)


def _area_reading(g: Gen, what: str) -> tuple[Dev, str]:
    """The only device in an area that answers ``what`` (temperature, humidity, ...)."""

    binary = what in ("occupancy", "motion", "moisture", "window")
    presence = {"occupancy", "motion"}  # either can say whether someone is there
    classes = presence if what in presence else {what}

    def answers(d: Dev) -> bool:
        if what == "temperature":
            return d.domain == "climate" or d.thing.device_class == "temperature"
        domain = "binary_sensor" if binary else "sensor"
        return d.domain == domain and d.thing.device_class in classes

    areas = [a for a in g.home.areas if len([d for d in g.home.where(place=a) if answers(d)]) == 1]
    area = g.pick(areas)
    return next(d for d in g.home.where(place=area) if answers(d)), area


_READING_Q: dict[str, tuple[str, ...]] = {
    "temperature": ("what's the temperature {pin}?", "how warm is it {pin}?",
                    "how cold is {the}?", "what's {the} temperature?"),
    "humidity": ("what's the humidity {pin}?", "how humid is {the}?", "how damp is it {pin}?"),
    "occupancy": ("is anyone {pin}?", "is there someone {pin}?"),
    "motion": ("is there any motion {pin}?", "has anything moved {pin}?"),
    "moisture": ("is there a leak {pin}?", "is anything leaking {pin}?"),
    "window": ("is the {p} window open?", "is the window {pin} open?"),
    "power": ("how much power is {the} using?",),
    "carbon_dioxide": ("how's the air quality {pin}?", "what's the CO2 level {pin}?"),
}  # fmt: skip


@family("query.sensor", "train", "query", 2.5)
def _query_sensor(g: Gen) -> Draft:
    """what's the temperature in the nursery? / is there a leak in the laundry room?"""
    what = g.pick([*_READING_Q, "temperature", "temperature", "humidity"])
    dev, area = _area_reading(g, what)
    if what == "window" and any(
        "window" in d.thing.nouns or d.thing.device_class == "window"
        for d in g.home.where(place=area) if d is not dev
    ):  # fmt: skip
        raise UnsuitableError
    template = _place_slots(g, g.pick(_READING_Q[what]), area)
    return _query(template, {"p": g.adj(area)}, [dev.name])


@family("query.polite", "heldout", "query", 3.0)
def _query_polite(g: Gen) -> Draft:
    """could you tell me if the desk lamp is on? / I wonder how warm it is in the study"""
    if g.chance(0.35):
        what = g.pick(["temperature", "temperature", "humidity"])
        dev, area = _area_reading(g, what)
        noun = "how warm it is" if what == "temperature" else "how humid it is"
        template = g.pick([f"I wonder {noun} {{pin}}", f"could you tell me {noun} {{pin}}?",
                           f"would you check the {what} {{pin}}?",
                           f"tell me the {what} {{pin}}, please"])  # fmt: skip
        return _query(_place_slots(g, template, area), {"p": g.adj(area)}, [dev.name])
    dev = g.pick([d for d in g.home.devices if d.domain in _STATE_Q])
    state = {"lock": "locked", "cover": "open", "valve": "open"}.get(dev.domain, "on")
    template = g.pick([f"could you tell me if {{d}} {{be}} {state}?",
                       f"can you check whether {{d}} {{be}} {state}?",
                       f"do you know if {{d}} {{be}} {state}?", "what's the status of {d}?",
                       f"any idea whether {{d}} {{be}} still {state}?",
                       "how {be} {d} doing?"])  # fmt: skip
    return _query_ref(g, dev, template)


def _no_names(g: Gen, text: str) -> None:
    """A request meant to match nothing must not contain a name of this home."""
    words = _words(text)
    for dev in g.home.devices:
        if any(_contains(words, _words(r)) for r, _ in dev.refs):
            raise UnsuitableError


def _fill(g: Gen, template: str, pools: Mapping[str, Sequence[str]]) -> str:
    for key, pool in pools.items():
        template = template.replace("{" + key + "}", g.pick(pool))
    return template


_CHIT = {
    "city": ("Paris", "London", "Tokyo", "Berlin", "Lisbon", "Chicago", "Nairobi", "Sydney"),
    "day": ("Monday", "Friday", "the weekend", "tomorrow", "tonight", "Saturday"),
    "country": ("France", "Japan", "Canada", "Kenya", "Peru", "Norway", "Vietnam"),
    "book": ("Moby Dick", "Pride and Prejudice", "The Hobbit", "Dune", "War and Peace"),
    "lang": ("Spanish", "German", "Japanese", "Italian", "Swahili"),
    "topic": ("cats", "computers", "penguins", "cheese", "pirates"),
    "item": ("milk", "eggs", "coffee beans", "bread", "batteries", "dish soap", "tomatoes"),
    "time": ("7 am", "six thirty", "noon", "8:15", "half past seven"),
    "task": ("call mum", "water the plants", "take the bins out", "feed the cat"),
    "genre": ("jazz", "some lo-fi", "classical music", "the Beatles", "my workout playlist"),
    "n": ("5", "ten", "15", "twenty", "3"),
    "a": ("7", "12", "nine", "25"),
    "b": ("8", "6", "eleven", "4"),
}  # fmt: skip


def _chit(g: Gen, templates: Sequence[str], pools: Mapping[str, Sequence[str]] = _CHIT) -> Draft:
    text = _fill(g, g.pick(templates), pools)
    _no_names(g, text)
    return _none(text)


@family("none.weather", "train", "none", 1.0)
def _none_weather(g: Gen) -> Draft:
    """what's the weather tomorrow? / will it be sunny in Lisbon tonight?"""
    return _chit(g, ("what's the weather tomorrow?", "will it rain {day}?",
                     "how hot will it be on {day}?", "do I need an umbrella {day}?",
                     "what's the forecast for {city}?", "is it going to snow {day}?",
                     "how windy is it in {city}?",
                     "will it be sunny in {city} {day}?"))  # fmt: skip


@family("none.joke", "train", "none", 0.7)
def _none_joke(g: Gen) -> Draft:
    """tell me a joke / got a pun about penguins?"""
    return _chit(g, ("tell me a joke", "make me laugh", "do you know any good jokes?",
                     "tell me something funny", "got a pun about {topic}?",
                     "tell me a joke about {topic}"))  # fmt: skip


@family("none.knowledge", "train", "none", 1.0)
def _none_knowledge(g: Gen) -> Draft:
    """what's the capital of Peru? / who wrote Dune? / what is 7 times 8?"""
    return _chit(g, ("what's the capital of {country}?", "who wrote {book}?",
                     "how far away is the moon?", "what is {a} times {b}?",
                     "how many legs does a spider have?", "who painted the Mona Lisa?",
                     "how do you say thank you in {lang}?", "why is the sky blue?",
                     "what's the population of {country}?"))  # fmt: skip


@family("none.shopping", "train", "none", 0.7)
def _none_shopping(g: Gen) -> Draft:
    """add milk to the shopping list / order more coffee beans"""
    return _chit(g, ("add {item} to the shopping list", "put {item} on my list",
                     "order more {item}", "what's on my shopping list?",
                     "remind me to buy {item}"))  # fmt: skip


@family("none.timer", "heldout", "none", 1.0)
def _none_timer(g: Gen) -> Draft:
    """set a timer for ten minutes / wake me up at 7 am / remind me to feed the cat at noon"""
    return _chit(g, ("set a timer for {n} minutes", "wake me up at {time}",
                     "set an alarm for {time}", "remind me to {task} at {time}",
                     "how long is left on the timer?", "cancel my alarm",
                     "start a {n} minute countdown"))  # fmt: skip


@family("none.media", "heldout", "none", 0.8)
def _none_media(g: Gen) -> Draft:
    """play some jazz / skip this song / turn up the volume"""
    return _chit(g, ("play {genre}", "skip this song", "turn up the volume", "pause the music",
                     "what song is this?", "play the news", "next track please",
                     "put on {genre}"))  # fmt: skip


@family("none.chitchat", "heldout", "none", 0.8)
def _none_chitchat(g: Gen) -> Draft:
    """how are you today? / what's your name? / what time is it?"""
    return _chit(g, ("how are you today?", "what's your name?", "thank you so much",
                     "who made you?", "are you a robot?", "what time is it?",
                     "what's the date today?", "do you dream?", "you're brilliant"))  # fmt: skip


def _home_words(home: Home) -> set[str]:
    words: set[str] = set()
    for dev in home.devices:
        for text, _ in dev.refs:
            words.update(_words(text))
        for noun in dev.thing.nouns:
            words.update(_words(noun))
    for place in [*home.areas, *home.floors]:
        words.update(_words(place))
    return words


def _unknown_thing(g: Gen) -> str:
    taken = _home_words(g.home)
    return g.pick([u for u in UNKNOWN_THINGS if not set(_words(u)) & taken])


def _unknown_place(g: Gen) -> str:
    pool = [a for kind in AREAS.values() for a in kind]
    if g.home.split != "train":
        pool += [a for kind in RESERVED_AREAS.values() for a in kind]
    pool += [f"{p}'s Room" for p in PERSONS if p not in g.home.persons]
    taken = _home_words(g.home) - {"room"}
    mine = [normalize(p) for p in [*g.home.areas, *g.home.floors]]
    return g.pick([
        a for a in pool
        if not set(_words(a)) - {"room"} & taken
        and all(normalize(a) not in m and m not in normalize(a) for m in mine)
    ])  # fmt: skip


_ABSENT: dict[Domain, tuple[str, ...]] = {
    "fan": ("turn on the fan", "set the fan to 50 percent", "switch the ceiling fan off"),
    "lock": ("lock the front door", "unlock the back door"),
    "cover": ("open the blinds", "close the curtains", "lower the shades"),
    "climate": ("set the thermostat to 21 degrees", "turn the heating up to 22",
                "switch the AC to cooling"),
    "valve": ("turn on the sprinklers", "shut off the water valve"),
}  # fmt: skip


@family("none.unknown_device", "train", "none", 3.0)
def _none_unknown_device(g: Gen) -> Draft:
    """turn on the dishwasher / start the robot vacuum / open the blinds (a home without any)"""
    absent = [d for d in _ABSENT if not g.home.where(domain=d)]
    if absent and g.chance(0.3):
        text = g.pick(_ABSENT[g.pick(absent)])
        _no_names(g, text)
        return _none(text)
    template = g.pick(["turn on the {u}", "switch off the {u}", "start the {u}",
                       "turn off the {u} {pin}", "is the {u} on?", "set the {u} to {v}",
                       "switch the {u} on"])  # fmt: skip
    area = g.pick(g.home.areas)
    template = template.replace("{pin}", _pin_slot(g, area))
    return Draft(template, {"u": _unknown_thing(g), "p": g.adj(area), "v": g.pct(50)}, "none",
                 NONE, [])  # fmt: skip


@family("none.unknown_area", "train", "none", 1.5)
def _none_unknown_area(g: Gen) -> Draft:
    """turn off the lights in the sauna (a home without one) / close the blinds in Leo's room"""
    place = _unknown_place(g)
    template = g.pick(["turn off the lights {pin}", "switch on the {p} lights",
                       "what's the temperature {pin}?", "close the blinds {pin}",
                       "turn off everything {pin}", "is the {p} window open?",
                       "it's too dark {pin}"])  # fmt: skip
    text = _place_slots(g, template, place)
    _no_names(g, text.replace("{p}", g.adj(place)))  # a home whose blinds are named "Blinds"
    return Draft(text, {"p": g.adj(place)}, "none", NONE, [])


_MISSABLE = frozenset({"light", "switch", "fan", "cover", "lock", "climate", "valve"})


@family("none.missing_in_area", "train", "none", 1.5)
def _none_missing_in_area(g: Gen) -> Draft:
    """turn on the bathroom fan (the home's only fan is in the office) / dim the lights in
    the garage (no lights there): a real area and a real kind of device, never together."""
    area = g.pick(g.home.areas)
    here = g.home.where(place=area)
    here_words = {w for d in here for noun in d.thing.nouns for w in _words(noun)}
    elsewhere = [
        d for d in g.home.devices
        if d.area != area and d.domain in _MISSABLE and d.domain not in {h.domain for h in here}
        and d.thing.nouns and not set(_words(d.thing.nouns[0])) & here_words
    ]  # fmt: skip
    dev = g.pick(elsewhere)
    noun = dev.thing.nouns[0]
    verbs = {
        "cover": ["open the {p} {n}", "close the {n} {pin}"],
        "lock": ["lock the {p} {n}", "unlock the {n} {pin}"],
        "light": ["turn on the {p} {n}", "dim the {n} {pin} to {v}", "switch off the {n} {pin}"],
    }.get(dev.domain, ["turn on the {p} {n}", "switch the {n} {pin} off", "start the {p} {n}"])
    if dev.domain in ("light", "switch", "fan"):
        verbs += ["is the {n} {pin} on?", "turn off the {p} {n}, please"]
    template = g.pick(verbs)
    text = _place_slots(g, template, area).replace("{n}", noun)
    _no_names(g, text.replace("{p}", g.adj(area)).replace("{v}", ""))
    return Draft(text, {"p": g.adj(area), "v": g.pct(50)}, "none", NONE, [])


@family("none.unknown_polite", "heldout", "none", 1.5)
def _none_unknown_polite(g: Gen) -> Draft:
    """could you please switch on the hot tub? / turn off the lights in the dojo, please?"""
    if g.chance(0.5):
        template = g.pick(["could you please switch on the {u}?",
                           "would you mind turning off the {u}?", "please start the {u} for me",
                           "I'd love it if you could turn on the {u}",
                           "can you check whether the {u} is running?"])  # fmt: skip
        return Draft(template, {"u": _unknown_thing(g)}, "none", NONE, [])
    place = _unknown_place(g)
    template = g.pick(["could you turn off the lights {pin}, please?",
                       "would you mind closing the blinds {pin}?",
                       "please warm up {the} a bit",
                       "can you tell me how warm it is {pin}?"])  # fmt: skip
    return Draft(_place_slots(g, template, place), {"p": g.adj(place)}, "none", NONE, [])


FRAMES = "frames"  # the skill of families that put other (train) families' requests in a frame
_WRAPPED_QUERIES = ("query.state", "query.sensor")

# Polite framing for every skill. Without it only ``power.polite`` pairs "could you ...?" with a
# command, and the model read "could you open the blinds?" as a question. The held-out polite
# families share these frames (not their sentences), so their split now tests the frames on
# new homes and wordings rather than the transfer of politeness from one skill to the others.
_WRAPPED_COMMANDS = ("brightness.direct", "warmth.direct", "color.direct", "temperature.device",
                     "temperature.area", "mode.direct", "position.direct", "position.half",
                     "cover.direct", "cover.garage", "lock.direct", "valve.direct", "fan.speed",
                     "scene.direct", "button.press", "group.area", "group.floor", "group.value",
                     "multi.and", "here.direct")  # fmt: skip
_WRAPPED_NONE = ("none.unknown_device", "none.unknown_area", "none.missing_in_area")
WRAPPED_FAMILIES = (*_WRAPPED_COMMANDS, *_WRAPPED_NONE, *_WRAPPED_QUERIES)
_POLITE = ("could you {x}?", "can you {x}?", "can you {x}, please?", "please {x}", "{x}, please",
           "{x} for me, please", "would you {x}?", "would you please {x}?", "could you please {x}",
           "please could you {x}", "do me a favour and {x}", "I'd like you to {x}", "hey, {x}",
           "if you could {x}, that would be great", "would you mind {ing}?",
           "I need you to {x}", "go ahead and {x}", "could you {x} for me?")  # fmt: skip
_GERUND = {"set": "setting", "dim": "dimming", "turn": "turning", "open": "opening",
           "close": "closing", "shut": "shutting", "lower": "lowering", "raise": "raising",
           "move": "moving", "put": "putting", "change": "changing", "make": "making",
           "switch": "switching", "lock": "locking", "unlock": "unlocking", "run": "running",
           "stop": "stopping", "brighten": "brightening", "activate": "activating",
           "start": "starting", "press": "pressing", "push": "pushing", "hit": "hitting",
           "trigger": "triggering", "heat": "heating", "warm": "warming", "cool": "cooling",
           "open up": "opening up", "shut off": "shutting off"}  # fmt: skip


def _polite_wrap(g: Gen, inner_ids: Sequence[str]) -> Draft:
    inner = g.pick(inner_ids)
    draft = FAMILIES[inner].make(g)
    verb = draft.template.split(" ", 1)[0]
    if verb not in _GERUND or draft.template.endswith("?"):
        raise UnsuitableError  # "desk lamp 40%" and questions take no polite frame
    frame = g.pick(_POLITE)
    rest = draft.template[len(verb) :]
    text = frame.replace("{x}", draft.template).replace("{ing}", _GERUND[verb] + rest)
    return replace(draft, template=text)


@family("polite.command", "train", FRAMES, 4.0)
def _polite_command(g: Gen) -> Draft:
    """could you dim the desk lamp to 40%? / would you mind closing the blinds? / set the
    bedroom to 20 degrees for me, please (any skill's direct request in a polite frame)"""
    return _polite_wrap(g, _WRAPPED_COMMANDS)


@family("polite.none", "train", "none", 1.2)
def _polite_none(g: Gen) -> Draft:
    """could you turn on the jacuzzi? (a home without one): politeness does not make a command"""
    return _polite_wrap(g, _WRAPPED_NONE)


_ASIDE = ("can you check: {x}", "quick question, {x}", "I was wondering, {x}", "hey, {x}",
          "do you know, {x}", "{x} just curious", "sorry to bother you, {x}",
          "tell me, {x}")  # fmt: skip


@family("polite.query", "train", FRAMES, 1.5)
def _polite_query(g: Gen) -> Draft:
    """quick question, is the desk lamp on? / I was wondering, how humid is the bathroom?"""
    draft = FAMILIES[g.pick(_WRAPPED_QUERIES)].make(g)
    return replace(draft, template=g.pick(_ASIDE).replace("{x}", draft.template))


# Wishes and "is it possible" questions that carry a value: a request, though it reads like a
# question or a statement. Not the held-out polite families' sentences ("can {d} be {v}?",
# "I'd like {d} at {v}"), other words for the same knowledge.
_WISH = ("I want {d} at {v}", "{d} should be at {v}", "let's have {d} at {v}",
         "is it possible to have {d} at {v}?", "any chance {d} could be at {v}?",
         "I'd prefer {d} at {v}", "how about {d} at {v}?", "{d} needs to be at {v}",
         "we want {d} at {v} now")  # fmt: skip
_WISH_COLOR = ("I want {d} {v}", "{d} should be {v}", "let's have {d} in {v}",
               "is it possible to have {d} in {v}?", "any chance {d} could turn {v}?",
               "I'd prefer {d} in {v}", "how about {d} in {v}?")  # fmt: skip
_WISH_MODE = ("I want {d} in {v} mode", "{d} should be on {v}", "I'd prefer {d} on {v}",
              "how about {d} in {v} mode?", "any chance {d} could run on {v}?",
              "we want {d} on {v} mode now")  # fmt: skip


@family("request.wish", "train", FRAMES, 2.0)
def _request_wish(g: Gen) -> Draft:
    """I want the desk lamp at 40% / any chance the nest could be at 21 degrees? / how about
    the light strip in blue? / I'd prefer the heat pump on cooling"""
    action: Action = g.pick(["set_brightness", "set_temperature", "set_color_temp", "set_color",
                             "set_position", "set_hvac_mode"])  # fmt: skip
    if action == "set_color":
        return _color_draft(g, _WISH_COLOR)
    if action == "set_hvac_mode":
        dev, mode, word = _mode_pick(g)
        template = g.pick(_WISH_MODE)
        return _cmd(template, {"d": g.ref(dev, not template.startswith("{d}")), "v": word}, "mode",
                    [dev.name], mode)  # fmt: skip
    fmt, values = {
        "set_brightness": (g.pct, lambda d: _pct_value(g, [d], "set_brightness")),
        "set_temperature": (g.degrees, lambda d: _temp_value(g, [d])),
        "set_color_temp": (g.kelvin, lambda d: _value_in(g, [d], "set_color_temp", _KELVINS)),
        "set_position": (g.pct, lambda d: _pct_value(g, [d], "set_position", lowest=10)),
    }[action]
    return _value_draft(g, action, _WISH, fmt=fmt, values=values)


# Its own pool: _fill draws a word for every key, so new keys in _CHIT would change
# what the held-out none families draw.
_ERRAND_WORDS = {
    "person": ("mum", "Sam", "my sister", "dad", "Priya", "the office"),
    "word": ("necessary", "ubiquitous", "rhythm", "serendipity", "quay"),
    "food": ("lasagne", "banana bread", "a curry", "pancakes"),
    "team": ("Arsenal", "Lakers", "Yankees", "Barcelona"),
}  # fmt: skip


@family("none.errands", "train", "none", 1.2)
def _none_errands(g: Gen) -> Draft:
    """call mum / how many grams in a pound? / what's on my calendar tomorrow? (numbers and
    verbs like "set" or "turn" without a device of this home)"""
    return _chit(g, ("call {person}", "send {person} a message saying I'm late",
                     "text {person} that I'm on my way", "what's on my calendar {day}?",
                     "add a dentist appointment on {day}", "how long is the drive to {city}?",
                     "who won the game {day}?", "how do I make pancakes?",
                     "how many grams are in {a} ounces?", "convert {a} miles to kilometres",
                     "what's {a} percent of {b} hundred?", "how do you spell {word}?",
                     "what does {word} mean?", "turn {a} euros into dollars",
                     "set up a meeting with {person} {day}", "find a recipe for {food}",
                     "book a table for {b} {day}", "what's the score in the {team} game?"),
                 pools={**_CHIT, **_ERRAND_WORDS})  # fmt: skip


# Their own pool, for the same reason as _ERRAND_WORDS.
_PASTIME_WORDS = {
    "show": ("the news", "a podcast about space", "my audiobook", "the next episode"),
    "mins": ("5", "ten", "20", "forty"),
}  # fmt: skip


@family("none.social", "train", "none", 0.8)
def _none_social(g: Gen) -> Draft:
    """thanks a lot / good night / never mind (courtesies: nothing to do)"""
    return _chit(g, ("thanks", "thanks a lot", "cheers", "much appreciated", "good morning",
                     "good night", "hello there", "nice job", "never mind",
                     "that's all for now, thanks", "see you later", "how's it going?",
                     "I love you", "you're funny", "ok cool", "great, thank you!",
                     "sorry, wrong button"))  # fmt: skip


@family("none.pastime", "train", "none", 0.8)
def _none_pastime(g: Gen) -> Draft:
    """snooze for ten minutes / read me a bedtime story / make it louder (clocks and media:
    no device of this home does them, numbers or not)"""
    return _chit(g, ("snooze for {mins} minutes", "start the stopwatch",
                     "how many minutes until {time}?", "what time is sunset {day}?",
                     "give me a wake-up call at {time}", "count down from {mins}",
                     "read me a bedtime story", "resume {show}", "shuffle my playlist",
                     "make it louder", "lower the volume a bit", "who sings this?",
                     "record the {team} game", "give me {mins} more minutes"),
                 pools={**_CHIT, **_ERRAND_WORDS, **_PASTIME_WORDS})  # fmt: skip


def families_for(split: Split) -> list[Family]:
    side: FamilySplit = "train" if split == "train" else "heldout"
    return [f for f in FAMILIES.values() if f.split == side]


# -- assembling cases ---------------------------------------------------------------------


@dataclass
class Generated:
    """A case and what the set file does not show: the text before typos, and its traits."""

    case: Case
    clean_text: str
    typo: bool
    number_words: bool


def _style(text: str, casing: str, ending: str) -> str:
    text = " ".join(text.split())
    if casing == "lower":
        text = text.lower()
    elif casing == "sentence":
        text = text[:1].upper() + text[1:]
    if ending == "drop" and text.endswith("?"):
        text = text[:-1]
    elif ending in (".", "!") and text[-1:].isalnum():
        text += ending
    return text


def _expect(home: Home, draft: Draft) -> list[ExpectedCommand]:
    """The planner's commands for a command intent; UnsuitableError if anything is off."""
    action = INTENT_ACTIONS[draft.action]
    if not draft.targets or len(draft.targets) > MAX_TARGETS:
        raise UnsuitableError
    by_name = {d.name: d for d in home.devices}
    for target in draft.targets:  # every target must do something
        if not expand(home, [target], action):
            raise UnsuitableError
        if target in by_name and not by_name[target].supports(action):
            raise UnsuitableError
    devs = expand(home, draft.targets, action)
    value = draft.value
    commands = []
    for dev in devs:
        if action in VALUE_ACTIONS:
            bounds = dev.device.ranges.get(action)
            if not isinstance(value, int) or bounds is None or not bounds.contains(value):
                raise UnsuitableError
            commands.append(ExpectedCommand(device=dev.name, action=action, value=float(value)))
        elif action in ("set_color", "set_hvac_mode"):
            allowed = dev.device.options.get(action, COLOR_OPTIONS if action == "set_color" else [])
            if not isinstance(value, str) or value not in allowed:
                raise UnsuitableError
            commands.append(ExpectedCommand(device=dev.name, action=action, value=value))
        else:
            if value is not None:
                raise UnsuitableError
            commands.append(ExpectedCommand(device=dev.name, action=action))
    return commands


def realize(rng: random.Random, g: Gen, fam: Family, draft: Draft) -> Generated:
    """Typos, casing and punctuation; the expected commands; the case."""
    home = g.home
    slots = dict(draft.slots)
    typo = False
    if rng.random() < TYPO_RATE:
        keys = [k for k in TYPO_SLOTS if k in slots and "{" + k + "}" in draft.template]
        if keys:
            for key in rng.sample(keys, min(len(keys), 2 if rng.random() < 0.2 else 1)):
                changed = _typo(rng, slots[key])
                typo = typo or changed != slots[key]
                slots[key] = changed
    casing = rng.choices(["lower", "asis", "sentence"], [0.5, 0.35, 0.15])[0]
    ending = rng.choices(["", ".", "!", "drop"], [0.75, 0.12, 0.05, 0.08])[0]
    text = _style(draft.template.format(**slots), casing, ending)
    clean = _style(draft.template.format(**draft.slots), casing, ending)
    if "{" in text or "}" in text:
        raise AssertionError(f"unfilled template in {fam.id}: {text!r}")
    area = draft.here
    if area is None and home.areas and rng.random() < CONTEXT_AREA_RATE:
        area = rng.choice(home.areas)
    expect: list[ExpectedCommand] = []
    if draft.kind == "command":
        expect = _expect(home, draft)
    elif draft.kind == "query":
        names = {d.name for d in home.devices}
        if not draft.targets or not set(draft.targets) <= names:
            raise UnsuitableError
    intent = {"targets": list(draft.targets), "action": draft.action, "value": draft.value}
    case = Case(
        home=home.id, text=text, area=area, kind=draft.kind, expect=expect,
        expect_query=list(draft.targets) if draft.kind == "query" else [],
        family=fam.id + ("+typo" if typo else ""), intent=intent,
    )  # fmt: skip
    return Generated(case, clean, typo, g.number_words)


def _quotas(families: Sequence[Family], total: int) -> dict[str, int]:
    weight = sum(f.weight for f in families)
    exact = {f.id: total * f.weight / weight for f in families}
    quotas = {k: int(v) for k, v in exact.items()}
    left = total - sum(quotas.values())
    for key in sorted(exact, key=lambda k: (quotas[k] - exact[k], k))[:left]:
        quotas[key] += 1
    return quotas


def generate_cases(
    homes: Sequence[Home], families: Sequence[Family], count: int, *, seed: int, split: str,
    log: Callable[[str], None] | None = None,
) -> tuple[list[Generated], dict[str, int]]:  # fmt: skip
    """``count`` cases over these homes and families; also the shortfall per family."""
    rng = random.Random(f"{seed}:cases:{split}")
    out: list[Generated] = []
    seen: set[tuple[str, str]] = set()
    shortfall: dict[str, int] = {}
    failures: Counter[str] = Counter()

    def attempt(fam: Family) -> bool:
        for _ in range(40):
            home = rng.choice(homes)
            g = Gen(rng, home)
            try:
                made = realize(rng, g, fam, fam.make(g))
            except UnsuitableError:
                continue
            key = (home.id, made.case.text.lower())
            if key in seen:
                continue
            seen.add(key)
            out.append(made)
            return True
        return False

    quotas = _quotas(families, count)
    for done, fam in enumerate(families, 1):
        for _ in range(quotas[fam.id]):
            if not attempt(fam):
                failures[fam.id] += 1
        if log and (done % 10 == 0 or done == len(families)):
            log(f"{split}: {len(out)}/{count} cases ({done}/{len(families)} families)")
    missing = count - len(out)
    working = [f for f in families if failures[f.id] == 0]
    for _ in range(missing * 3):
        if len(out) >= count or not working:
            break
        fam = rng.choices(working, [f.weight for f in working])[0]
        attempt(fam)
    shortfall = {k: v for k, v in failures.items() if v}
    if shortfall and log:
        log(f"{split}: families short of homes that suit them: {shortfall}")
    rng.shuffle(out)
    return out, shortfall


# -- the whole dataset --------------------------------------------------------------------


@dataclass
class Dataset:
    sets: dict[str, EvalSet]
    generated: dict[str, list[Generated]]
    homes: dict[str, Home]
    home_split: dict[Split, list[str]]
    stats: dict[str, Any]


def split_homes(count: int, seed: int) -> dict[Split, list[str]]:
    """Home ids per split: a seeded permutation, 80 % / 10 % / the rest (at least one each)."""
    if count < 3:
        raise ValueError("need at least 3 homes (one per split)")
    ids = [f"home-{i:04d}" for i in range(1, count + 1)]
    random.Random(f"{seed}:homes").shuffle(ids)
    n_train = min(count - 2, max(1, round(count * HOME_FRACTIONS[0])))
    n_val = min(count - n_train - 1, max(1, round(count * HOME_FRACTIONS[1])))
    return {
        "train": sorted(ids[:n_train]),
        "validation": sorted(ids[n_train : n_train + n_val]),
        "test": sorted(ids[n_train + n_val :]),
    }


def generate(
    *, homes: int = 300, train: int = 2000, validation: int = 200, test: int = 300, seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Dataset:  # fmt: skip
    """Homes, splits and cases; nothing is written."""
    say = log or (lambda _: None)
    home_split = split_homes(homes, seed)
    built: dict[str, Home] = {}
    for split in SPLITS:
        for home_id in home_split[split]:
            built[home_id] = make_home(home_id, split, seed)
    say(f"{len(built)} homes, {sum(len(h.devices) for h in built.values())} devices "
        f"({', '.join(f'{s} {len(home_split[s])}' for s in SPLITS)})")  # fmt: skip
    sizes = {"train": train, "validation": validation, "test": test}
    sets: dict[str, EvalSet] = {}
    generated: dict[str, list[Generated]] = {}
    shortfalls: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        split_homes_ = [built[h] for h in home_split[split]]
        made, short = generate_cases(split_homes_, families_for(split), sizes[split], seed=seed,
                                     split=split, log=say)  # fmt: skip
        generated[split] = made
        shortfalls[split] = short
        used = sorted({m.case.home for m in made})
        sets[split] = EvalSet(
            name=split, homes={h: built[h].static_devices() for h in used},
            cases=[m.case for m in made],
        )  # fmt: skip
    stats = _stats(
        seed=seed,
        sizes=sizes,
        homes=built,
        home_split=home_split,
        generated=generated,
        shortfalls=shortfalls,
    )
    return Dataset(sets, generated, built, home_split, stats)


def _stats(
    *, seed: int, sizes: dict[str, int], homes: dict[str, Home], home_split: dict[Split, list[str]],
    generated: dict[str, list[Generated]], shortfalls: dict[str, dict[str, int]],
) -> dict[str, Any]:  # fmt: skip
    splits: dict[str, Any] = {}
    for split in SPLITS:
        made = generated[split]
        cases = [m.case for m in made]
        actions = Counter(c.action for case in cases for c in case.expect)
        groups = sum(1 for c in cases if c.intent and any(
            parse_label(t) and t not in {d.name for d in homes[c.home].devices}
            for t in c.intent["targets"]))  # fmt: skip
        splits[split] = {
            "cases": len(cases),
            "requested": sizes[split],
            "homes": len(home_split[split]),
            "homes_used": len({c.home for c in cases}),
            "home_ids": home_split[split],
            "kinds": dict(sorted(Counter(c.kind for c in cases).items())),
            "families": dict(sorted(Counter(c.family.split("+")[0] for c in cases).items())),
            "intent_actions": dict(
                sorted(Counter(str(c.intent["action"]) for c in cases if c.intent).items())
            ),
            "expected_actions": dict(sorted(actions.items())),
            "typos": sum(m.typo for m in made),
            "number_words": sum(m.number_words for m in made),
            "in_here": sum(1 for c in cases if c.family.startswith("here.")),
            "with_area": sum(1 for c in cases if c.area),
            "group_targets": groups,
            "multi_target": sum(1 for c in cases if c.intent and len(c.intent["targets"]) > 1),
            "shortfall": shortfalls.get(split, {}),
        }
    devices = [d for h in homes.values() for d in h.devices]
    return {
        "seed": seed,
        "sizes": sizes,
        "split_rule": "train = train homes x train families; validation = validation homes x "
        "held-out families; test = test homes x held-out families",
        "splits": splits,
        "families": {
            f.id: {"split": f.split, "skill": f.skill, "weight": f.weight, "example": f.doc}
            for f in FAMILIES.values()
        },
        "homes": {
            "count": len(homes),
            "devices": len(devices),
            "domains": dict(sorted(Counter(d.domain for d in devices).items())),
            "naming_styles": dict(sorted(Counter(d.style for d in devices).items())),
            "with_aliases": sum(1 for d in devices if d.device.aliases),
            "floors": dict(sorted(Counter(len(h.floors) for h in homes.values()).items())),
            "areas": len({a for h in homes.values() for a in h.areas}),
        },
    }


def write(dataset: Dataset, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, evalset in dataset.sets.items():
        path = out / f"{split}.json"
        path.write_text(_to_json(evalset), encoding="utf-8")
        written.append(path)
    path = out / "stats.json"
    path.write_text(
        json.dumps(dataset.stats, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    written.append(path)
    return written


def _to_json(evalset: EvalSet) -> str:
    data = evalset.model_dump(mode="json")
    for devices in data["homes"].values():
        for device in devices:
            for key in [k for k, v in device.items() if v is None or v in ([], {})]:
                del device[key]
    for case in data["cases"]:
        if case["area"] is None:
            del case["area"]
        for command in case["expect"]:
            if command["value"] is None:
                del command["value"]
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


# -- command line -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent-export dataset",
        description="Generate synthetic train / validation / test sets for the planner.",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the set files")
    parser.add_argument("--homes", type=int, default=300, help="homes to generate (default 300)")
    parser.add_argument("--train", type=int, default=2000, help="train cases (default 2000)")
    parser.add_argument("--validation", type=int, default=200, help="validation cases (200)")
    parser.add_argument("--test", type=int, default=300, help="test cases (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.homes < 3:
        print("error: --homes must be at least 3 (one per split)", file=sys.stderr)
        return 2
    if min(args.train, args.validation, args.test) < 0:
        print("error: set sizes must not be negative", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    dataset = generate(
        homes=args.homes,
        train=args.train,
        validation=args.validation,
        test=args.test,
        seed=args.seed,
        log=log,
    )
    for path in write(dataset, args.out):
        log(f"wrote {path}")
    short = {
        s: v["cases"] for s, v in dataset.stats["splits"].items() if v["cases"] < v["requested"]
    }
    if short:
        log(f"warning: fewer cases than asked: {short}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
