"""Which clip sources a deployment reads, and whether a network address may be reached: one rule set for
ingest (when a clip arrives) and framegrid (again, before it opens anything: topic messages can be forged)."""
