"""The caption stage."""
