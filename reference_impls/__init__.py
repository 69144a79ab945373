"""Reference implementations, one package per paper, and the shared machinery in `common`.

Every paper package exposes the same names where they apply (as torchvision's references do):
`load_data`, `build_model`, `train_one_epoch` / `train`, `evaluate`.
"""
