"""Training: the data split, training images, patches, the loop and its configuration."""
