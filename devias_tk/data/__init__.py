"""Dataset lists, video decoding, clip sampling, transforms and the synthetic benchmark."""
