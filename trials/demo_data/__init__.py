"""The synthetic patients of the demo trials: per-patient scripts (``ipd``, ``cfz``) and the
runner that plays each script through the product's services (``runner``)."""
