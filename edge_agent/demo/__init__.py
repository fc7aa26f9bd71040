"""A demo home: every ecosystem's discovery and state messages, and a simulator that answers
commands the way the real devices do (``python -m edge_agent.demo.simulator``)."""

from edge_agent.demo.fixtures import DEMO_FLOORS, demo_registry, load_messages

__all__ = ["DEMO_FLOORS", "demo_registry", "load_messages"]
