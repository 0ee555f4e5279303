"""Encoders: the only package (with the trainer) that imports torch."""
