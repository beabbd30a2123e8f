"""detectron2's DensePose model zoo in the studio: the catalog, import and download."""
