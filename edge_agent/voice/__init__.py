"""Voice: microphone or file -> end of utterance -> wake word -> recognizer -> the agent,
and the reply spoken. One more transport into the same agent as MQTT requests."""
