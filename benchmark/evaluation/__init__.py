"""Evaluation: feature extraction, distance (eq. 1, official), ranking metrics, protocols, score."""
