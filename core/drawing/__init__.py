"""A drawn digit: strokes to pixels, MNIST's own preprocessing, the prediction and whether it looks like a digit at all."""
