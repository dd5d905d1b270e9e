"""The recaption stage."""
