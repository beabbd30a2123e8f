"""DensePose Studio: annotate DensePose data, measure annotators, export DensePose-COCO.

Everything in this package except :mod:`annotator.ui` is free of Qt, so scripts, tests and
the :mod:`model` package use it headless.
"""

__version__ = "0.1.0"
