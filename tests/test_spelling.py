"""Slips in a home's own words are put right before the model reads the request."""

from __future__ import annotations

from planner_fakes import intent, planner_for, static_light

from edge_agent.agent.spelling import Speller
from edge_agent.messages import Context, Request

HOME = ["kitchen", "radiator", "half", "bath", "deadbolt", "reading", "light", "lights",
        "movie", "night", "powder", "room", "closet", "shelly"]  # fmt: skip


def test_a_swapped_dropped_or_doubled_letter_in_a_home_word_is_put_right() -> None:
    speller = Speller(HOME)
    assert speller.fix("set the kitchen radiatro to 19") == "set the kitchen radiator to 19"
    assert speller.fix("it's muggy in the half btah") == "it's muggy in the half bath"
    assert speller.fix("lock the Deadoblt!") == "lock the Deadbolt!"  # capital kept
    assert speller.fix("turn off the readng light") == "turn off the reading light"
    assert speller.fix("close Shellly 2PM, please") == "close Shelly 2PM, please"


def test_ordinary_words_and_other_kinds_of_difference_are_left_alone() -> None:
    speller = Speller(HOME)
    unchanged = [
        "good night",  # "light" is one changed letter away: not a slip it undoes
        "switch the lights on",  # a home word that starts another ("light" / "lights")
        "close the closet",
        "the iktchen and the itchen",  # slips in the first letter
        "move the blinds and power off the fan",  # ordinary words ("movie", "powder")
        "the bth",  # too short to tell
    ]
    for text in unchanged:
        assert speller.fix(text) == text
    # A slip two home words could both have made is not guessed at.
    assert Speller(["mantle", "mantel"]).fix("the mante") == "the mante"
    assert Speller(["bedside", "beside"]).fix("beside") == "beside"  # a home word itself


def test_the_model_decides_what_an_ordinary_word_is() -> None:
    speller = Speller(["guest", "room"], ordinary=lambda word: word == "gust")
    assert speller.fix("a gust in the gest room") == "a gust in the guest room"


def test_the_model_reads_the_corrected_request_and_retrieval_finds_the_device() -> None:
    devices = [static_light(f"Lamp {n}", "Hall", f"lamp_{n}") for n in range(10)]
    devices.append(static_light("Aquarium Heater", "Den", "aquarium_heater"))
    planner, model, _ = planner_for(lambda _: intent("on", "Aquarium Heater"), devices=devices)
    response = planner.handle(Request(text="start the aquarium hetaer", context=Context()))
    assert [a.device for a in response.actions] == ["Aquarium Heater"]
    request = model.calls[0][0]
    assert "Request: start the aquarium heater" in request and "hetaer" not in request
    # A home renamed after the speller was built is spelled against its new names.
    planner.registry.add([static_light("Sauna Lantern", "Den", "sauna_lantern").entity()])
    planner.handle(Request(text="dim the sauna lantrn", context=Context()))
    assert "Request: dim the sauna lantern" in model.calls[1][0]
