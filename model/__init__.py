"""DensePose models in torch: data, modeling, losses, training (DDP), evaluation, inference."""
