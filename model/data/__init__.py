"""Training data for DensePose R-CNN: DensePose-COCO and synthetic folders, flips, loaders.

Modules: :mod:`~model.data.dataset` (images and targets), :mod:`~model.data.flip` (the chart
symmetry table), :mod:`~model.data.transforms` (augmentation), :mod:`~model.data.sampler`
and :mod:`~model.data.loader` (deterministic, resumable, shardable batches).
"""
