"""Training: the loop, checkpoints, DDP, the synthetic trunk pretraining."""
