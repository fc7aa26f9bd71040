"""edge-agent: a local small-language-model agent for IoT devices."""

__version__ = "0.1.0"
