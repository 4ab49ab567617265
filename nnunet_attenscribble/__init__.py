"""AttenScribble for nnU-Net v2: scribble-supervised segmentation with attentive similarity learning.

Kept free of heavy imports: the start-up hook imports this package in every Python process.
"""
__version__ = "1.1.0"
