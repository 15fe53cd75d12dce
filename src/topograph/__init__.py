"""topograph: loss landscapes of neural network training."""

__all__ = ["Collector", "compute_landscapes"]


def __getattr__(name):
    # Lazy, so that `topograph.report` never pulls in torch.
    if name == "Collector":
        from .collect import Collector
        return Collector
    if name == "compute_landscapes":
        from .landscape import compute_landscapes
        return compute_landscapes
    raise AttributeError(f"module 'topograph' has no attribute {name!r}")
