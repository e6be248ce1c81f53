"""Training audio augmentation, the on-disk feature cache and the window sets."""
