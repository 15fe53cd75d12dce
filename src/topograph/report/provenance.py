"""The provenance block every page carries: what each landscape's values came from (the seeds, the evaluated
samples, the center checkpoint's bytes) and the versions of topograph and torch that computed them, as the
evaluation stored them in surface.zarr's attrs (the report never imports torch)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .html import esc
from .run import Landscape

COLUMNS = ("Run", "Landscape", "Seed", "Data subset", "Center checkpoint (SHA-256)", "topograph", "torch")
NOT_RECORDED = "not recorded (evaluated by an older topograph)"
NOTE = ("Seed: the run's seed, which draws the evaluated samples (and the random directions, unless they are "
        "another run's). Data subset: 16 hex digits of the SHA-256 of the data factory, its arguments and the indices "
        "of the samples evaluated; the same digits, the same samples. The checkpoint's SHA-256 is of its file's "
        "bytes when the grid was evaluated; topograph and torch are the versions that evaluated it.")


def page_version() -> str:
    """The topograph that writes this page."""
    try:
        return version("topograph")
    except PackageNotFoundError:
        return "unknown (not installed)"


def provenance(landscapes: list[Landscape]) -> str:
    """A collapsed card: one row per landscape."""
    head = "".join(f'<th scope="col">{esc(column)}</th>' for column in COLUMNS)
    rows = "".join(f"<tr>{''.join(provenance_cells(landscape))}</tr>" for landscape in landscapes)
    table = f'<table class="info"><tr>{head}</tr>{rows}</table>' if landscapes else ""
    return (f'<details class="card provenance"><summary>Provenance</summary>{table}<p class="note">{esc(NOTE)} '
            f"This page was written by topograph {esc(page_version())}.</p></details>")


def seed_text(landscape: Landscape):
    """The seed, and where the plane's random directions came from if not from it."""
    attrs = landscape.attrs
    if attrs.get("directions_from"):
        return f"{attrs.get('seed')}; directions: run {attrs['directions_from']}'s (seed {landscape.plane_seed})"
    return attrs.get("seed")


def checkpoint_text(attrs: dict) -> str:
    hashes = attrs.get("checkpoint_sha256")
    if hashes is None:
        return esc(NOT_RECORDED)
    return "<br>".join(f"{esc(file)}: <code>{esc(digest)}</code>" for file, digest in hashes.items()) or "–"


def provenance_cells(landscape: Landscape) -> list[str]:
    attrs = landscape.attrs
    subset = (f"<code>{esc(landscape.samples)}</code> ({esc(attrs.get('num_samples'))} of {esc(attrs.get('data'))})"
              if landscape.samples else "–")
    versions = [esc(attrs.get(key) or NOT_RECORDED) for key in ("topograph_version", "torch_version")]
    cells = [esc(landscape.run), esc(landscape.name), esc(seed_text(landscape)), subset, checkpoint_text(attrs),
             *versions]
    return [f"<td>{cell}</td>" for cell in cells]
