"""Temperature, "not sure" threshold and arousal/valence heads, fitted and applied."""
