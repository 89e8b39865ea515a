"""Training: data (PK sampler, COCO stream), transforms, the loop, checkpoints."""
