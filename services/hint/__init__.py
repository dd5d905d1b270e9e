"""The hint stage."""
