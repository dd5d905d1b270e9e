"""The one consumer runtime every service runs on: Kafka, commits, concurrency, retries, dead letters,
health and metrics. Stages only implement `handle(message) -> message(s)`."""
