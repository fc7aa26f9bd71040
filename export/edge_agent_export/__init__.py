"""edge-agent's workstation half: turn a small causal LM into an int8 / int4 ONNX bundle."""
