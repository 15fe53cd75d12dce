"""What every kind's plane records about its center."""
from __future__ import annotations


def center_attrs(trajectory, row: int) -> dict:
    """The center's step and checkpoint file (relative to results/<run>), from trajectory.zarr's row."""
    return {"center_step": int(trajectory["step"][row]), "center_checkpoint": trajectory.attrs["checkpoints"][row]}
