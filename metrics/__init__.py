"""Evaluation protocols, one module per topic (localization, segmentation, captioning, detection, few-shot, ...)."""
