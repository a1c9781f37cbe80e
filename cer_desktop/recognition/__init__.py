"""The Recognizer tiers: instant (landmark action units), LVLM, remote."""
