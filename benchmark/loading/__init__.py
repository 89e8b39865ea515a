"""Images, part labels, transforms and samplers: below both training and evaluation."""
