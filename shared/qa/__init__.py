"""Caption quality: named rules over every caption answer (rules.py, pure) and their settings."""
