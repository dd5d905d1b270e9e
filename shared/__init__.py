"""Code common to every Mira service: messages, settings, the consumer runtime, storage."""
