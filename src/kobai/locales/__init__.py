"""The message catalogues of :mod:`kobai.i18n`, one module per language."""
