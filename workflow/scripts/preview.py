from pathlib import Path

from topograph.files import write_text
from topograph.report import write_preview


def preview(name: str) -> list[str]:
    """The run's preview page, and what it shows: a line per landscape."""
    folder = Path("results") / name
    if not (folder / "trajectory.zarr").is_dir():
        return [f"{folder}: no trajectory yet, nothing to preview"]
    assets = snakemake.params.assets
    shared = Path(assets) if assets and any(Path(assets).glob("*.js")) else None  # else inlined
    return [str(folder / "preview.html"), *(f"  {line}" for line in write_preview(folder, folder / "preview.html",
                                                                                  assets=shared))]


text = "\n".join(line for name in snakemake.params.runs for line in preview(name))
write_text(Path(snakemake.log[0]), text + "\n")
print(text)  # on the console: what the user asked for
