"""Evaluation: extraction, distance (eq. 1, official), ranking, protocols, validation, parsing."""
