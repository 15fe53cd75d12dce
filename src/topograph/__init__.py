"""topograph: loss landscapes of neural network training."""

__all__ = ["Collector"]


def __getattr__(name):
    # Lazy, so that `topograph.report` never pulls in torch.
    if name == "Collector":
        from .collect import Collector
        return Collector
    raise AttributeError(f"module 'topograph' has no attribute {name!r}")
