"""Cryptography: safe recipes at the top (sealing records, key rings), primitives below."""
