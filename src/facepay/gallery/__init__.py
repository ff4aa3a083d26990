"""The 1:N gallery: the `Gallery` port (ports.py), `InMemoryGallery` and `FaissGallery`.

Import the implementation you need from its module; this package imports nothing heavy itself.
"""
