"""Objects in place of import strings (objects.py): a model, a dataset, a loss and a metric defined here, in the
test module, given to compute_landscapes as they are; no import string anywhere."""
import numpy as np
import pytest
import torch
import zarr
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, default_collate

from topograph import objects, store
from topograph.errors import ConfigError
from topograph.factories import build, resolve


class Digits(Dataset):
    """sklearn's handwritten digits, 8x8 pixels flattened, as (input, label)."""

    def __init__(self, count: int = 600):
        digits = load_digits()
        self.inputs = torch.tensor(digits.data[:count] / 16, dtype=torch.float32)
        self.labels = torch.tensor(digits.target[:count])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.inputs[index], self.labels[index]


class Tiny(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10))

    def forward(self, inputs):
        return self.layers(inputs)


def margin_loss(output, target):
    """A loss of this module: per sample, as topograph's own."""
    return F.multi_margin_loss(output, target, reduction="none")


def hits(output, target):
    return (output.argmax(1) == target).float()


def pairs(items):
    """A collate function of this module: the default's, counted."""
    pairs.calls += 1
    return default_collate(items)


pairs.calls = 0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_an_object_gets_an_import_string_that_builds_it_again(cache):
    torch.manual_seed(0)
    model, data = Tiny(), Digits(50)
    spec = objects.spec_of(model, factory=True)
    assert spec.startswith("topograph.objects:Tiny_")
    built = build(spec, {})
    assert built is not model and isinstance(built, Tiny)
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), model.state_dict().values()))
    assert torch.equal(build(objects.spec_of(data, factory=True), {})[7][0], data[7][0])
    loss = resolve(objects.spec_of(margin_loss))
    assert torch.equal(loss(torch.eye(3), torch.tensor([0, 1, 1])), margin_loss(torch.eye(3), torch.tensor([0, 1, 1])))
    with pytest.raises(ConfigError, match=r"^runs\.r\.model: .* takes no arguments"):
        build(spec, {"hidden": 3}, "runs.r.model")


def test_the_name_follows_the_code_and_the_data_not_the_weights(cache):
    torch.manual_seed(0)
    first = objects.spec_of(Tiny(), factory=True)
    assert objects.spec_of(Tiny(), factory=True) == first  # other initial weights: the checkpoints give them
    assert objects.spec_of(Tiny(hidden=8), factory=True) != first  # another architecture
    assert objects.spec_of(Digits(50), factory=True) == objects.spec_of(Digits(50), factory=True)
    assert objects.spec_of(Digits(50), factory=True) != objects.spec_of(Digits(51), factory=True)
    assert objects.spec_of(margin_loss) != objects.spec_of(hits)
    assert objects.plain_name(objects.spec_of(hits)) == "hits"


def test_a_data_loader_stands_for_its_dataset_and_collate_function(cache):
    data = Digits(50)
    model, spec, settings = objects.as_specs(Tiny(), DataLoader(data, batch_size=4, collate_fn=pairs), {})
    assert build(spec, {})[3][1] == data[3][1]
    assert objects.plain_name(settings["collate"]) == "pairs"
    with pytest.raises(ConfigError, match=r"^model: list is neither an nn.Module nor an import string\. Fix:"):
        objects.as_specs([], data, {})


def train(folder):
    """Tiny on Digits, 12 steps, collected by a Collector: the checkpoints compute_landscapes reads."""
    from topograph import Collector

    torch.manual_seed(1)
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    collector = Collector(model, folder, unit="step", intervals=[[4, 8, 12]], optimizer=optimizer)
    for inputs, labels in list(DataLoader(Digits(), batch_size=50, shuffle=True))[:12]:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        collector.step(loss.item())
    collector.close()
    return model


@pytest.mark.cluster
def test_compute_landscapes_takes_the_objects_and_its_values_are_plain_forward_passes(cache, tmp_path):
    from topograph import compute_landscapes

    model = train(tmp_path / "checkpoints")
    pairs.calls = 0
    settings = {"checkpoints": tmp_path / "checkpoints", "landscapes": ["result"], "resolution": 5,
                "num_samples": 64, "loss": margin_loss, "metrics": [hits], "workers": 2}  # the objects go to workers
    data = DataLoader(Digits(), collate_fn=pairs)
    surfaces = compute_landscapes(tmp_path / "run", model=model, data=data, **settings)
    surface = zarr.open_group(str(surfaces["result"]), mode="r")
    assert set(surface.array_keys()) >= {"loss", "hits"}
    center, d1, d2, _ = store.read_vectors(surfaces["result"].parent / "directions.zarr")
    inputs, labels = default_collate([Digits()[int(i)] for i in surface["sample_index"][:]])
    for i, j in [(0, 0), (2, 2), (4, 1)]:
        weights = torch.from_numpy(center + np.float32(surface["x"][i]) * d1 + np.float32(surface["y"][j]) * d2)
        torch.nn.utils.vector_to_parameters(weights, model.parameters())
        with torch.no_grad():
            output = model(inputs)
        assert float(surface["loss"][i, j]) == pytest.approx(float(margin_loss(output, labels).mean()), rel=1e-5)
        assert float(surface["hits"][i, j]) == pytest.approx(float(hits(output, labels).mean()), abs=1e-6)
    assert surface.attrs["model"].startswith("topograph.objects:Tiny_")
    # a model built again (other initial weights) is the same model: no chunk of the finished grid is redone
    before = surface["loss"][:]
    chunks = [path for path in surfaces["result"].rglob("*") if path.is_file() and "c" in path.parts]
    written = {path: path.stat().st_mtime_ns for path in chunks}
    compute_landscapes(tmp_path / "run", model=Tiny(), data=data, **settings)
    again = zarr.open_group(str(surfaces["result"]), mode="r")
    assert np.array_equal(again["loss"][:], before)
    assert again.attrs["fingerprint"] == surface.attrs["fingerprint"]
    assert len(written) > 25 and {path: path.stat().st_mtime_ns for path in written} == written
