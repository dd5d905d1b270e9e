"""The framegrid stage."""
