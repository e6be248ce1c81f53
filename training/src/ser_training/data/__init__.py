"""Corpus readers and speaker-independent splits (no audio decoding)."""
