"""Operator definitions as tensor expressions (packed accelerator layouts and element-wise)."""
