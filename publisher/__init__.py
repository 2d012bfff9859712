"""publisher: one structured source for SER Magazine, two editions (EPUB 3 and press-ready PDF).

The pipeline runs one way: ``load`` (source tree -> frozen ``model``) -> ``render`` (model -> XHTML)
-> ``epub`` / ``pdf`` (XHTML -> edition files).  Only ``cli`` prints and chooses exit codes.
"""

__version__ = "0.1.0"
