"""Spatial transformer networks (Jaderberg et al., NIPS 2015): localisation net -> affine grid
generator -> bilinear sampler, in front of a CNN classifier; distorted MNIST built from the real digits."""
