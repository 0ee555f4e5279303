"""Seeded synthetic notes with ground-truth PHI spans: unit-test data for the text detector."""
