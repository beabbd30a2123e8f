"""Scoring DensePose predictions against DensePose-COCO ground truth.

:func:`model.evaluation.evaluate.evaluate` is the one entry point: GPS / GPSm / IOU AP and AR
exactly as detectron2's DensePose evaluator, the paper's pointwise figures, and dense figures
on synthetic data. Results files (the COCO DensePose challenge format) are read and written by
:mod:`model.evaluation.results`.

The package imports nothing itself: ``dpstudio --help`` registers the ``score`` command from
:mod:`model.evaluation.cli` without loading torch.
"""
