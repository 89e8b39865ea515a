"""Human parsing: train a part segmenter on DensePose-COCO, pseudo-label Market-1501, score it."""
