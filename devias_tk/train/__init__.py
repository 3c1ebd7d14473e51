"""Training pieces as pure functions: slot matching, losses, batch augmentation and mask targets."""
