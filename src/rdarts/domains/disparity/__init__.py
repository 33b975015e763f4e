"""Disparity estimation (S6, AutoDispNet-C): stereo data, correlation, cells and the domain."""
